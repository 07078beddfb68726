// The lab node itself: a real sshd, QEMU instances of every runtime
// generation started from their runtime files, guests that report their PCI
// devices, and a teardown that leaves nothing behind.
import { sessionTarget } from "../../electron/lab/sshd.js";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { LabNode } from "../../electron/lab/node.js";
import { startDefaultInstances, type StartedLabInstance } from "../../electron/lab/instances.js";
import { GuestConsole } from "./guest-console.js";
import { leftoverLinks } from "../../electron/lab/network.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { QmpClient } from "../../electron/qmp/client.js";
import { QueryPciResultSchema, liveSlotsFromQueryPci } from "../../shared/qmp/query-pci.js";
import { guestPciAddress } from "../../shared/slots/index.js";

let node: LabNode;
let instances: StartedLabInstance[];
let session: NodeSession;
let stopped = false;

beforeAll(async () => {
  node = await LabNode.start();
  instances = await startDefaultInstances(node);
  session = await NodeSession.open(sessionTarget(node.info));
});

afterAll(async () => {
  session?.close();
  if (!stopped) await node?.stop();
});

const byName = (name: string) => instances.find((i) => i.name === name)!;

async function queryPciOverSsh(inst: StartedLabInstance) {
  const stream = await session.openUnixSocket(inst.paths.qmp);
  const qmp = await QmpClient.connect(stream, { label: inst.paths.qmp });
  try {
    return liveSlotsFromQueryPci(await qmp.execute("query-pci", undefined, { schema: QueryPciResultSchema }));
  } finally {
    qmp.close();
  }
}

describe("lab node", () => {
  it("hands tests the host, port, user, key and host key fingerprint of a real sshd", () => {
    const i = node.info;
    expect(i.host).toBe("127.0.0.1");
    expect(i.port).toBeGreaterThan(0);
    expect(i.hostKeyFingerprint).toMatch(/^SHA256:/);
    expect(existsSync(i.privateKeyPath)).toBe(true);
    expect(session.label).toBe(`${i.user}@127.0.0.1:${i.port}`);
  });

  it("has one instance of each runtime generation, and the files on the node are the bytes that were written", async () => {
    expect(new Set(instances.map((i) => i.generation))).toEqual(new Set(["A", "B", "C"]));
    const sftp = await session.sftp();
    for (const inst of instances) {
      const onNode = await new Promise<Buffer>((resolve, reject) =>
        sftp.readFile(inst.paths.runtime, (err, data) => (err ? reject(err) : resolve(data))),
      );
      expect(onNode.toString("utf8")).toBe(inst.runtimeText);
      const mode = await new Promise<number>((resolve, reject) => sftp.stat(inst.paths.runtime, (err, st) => (err ? reject(err) : resolve(st.mode))));
      expect(mode & 0o777).toBe(0o600);
    }
    sftp.end();
    // Generation A has 3 entries, B and C 4; B records integer slots, C hvinfo.
    expect(JSON.parse(byName("charlie.lab").runtimeText)).toHaveLength(3);
    expect(byName("bravo.lab").runtimeText).toMatch(/"pci": 5/);
    expect(byName("alpha.lab").runtimeText).toMatch(/"hvinfo": \{"driver": "virtio-net-pci", "id": "nic-/);
  });

  it("query-pci through the SSH connection shows every device at the slot its runtime file records", async () => {
    for (const inst of instances) {
      const live = await queryPciOverSsh(inst);
      for (const rec of inst.recordedSlots.filter((r) => r.slot !== undefined)) {
        const dev = live.find((d) => d.slot === rec.slot && d.function === 0);
        expect(dev, `${inst.name}: nothing live at slot ${rec.slot} for ${rec.id}`).toBeDefined();
        expect(dev!.qdevId).toBe(rec.id);
      }
    }
    // Generation B's balloon keeps the slot its kvm_cmd pins (0x3) after the in-memory upgrade.
    const bravo = await queryPciOverSsh(byName("bravo.lab"));
    expect(bravo.find((d) => d.slot === 3)?.qdevId).toBe("balloon");
    // Generation A records no slots: QEMU placed its NIC and disk wherever it liked.
    const charlie = await queryPciOverSsh(byName("charlie.lab"));
    expect(byName("charlie.lab").recordedSlots).toEqual([]);
    expect(charlie.filter((d) => d.vendorId === 0x1af4).length).toBeGreaterThanOrEqual(3); // balloon, disk, NIC
  });

  it("guests boot and report the same PCI devices on their serial console", async () => {
    for (const inst of instances) {
      const console = new GuestConsole(await session.openUnixSocket(inst.paths.serial));
      try {
        await console.waitReady(60_000);
        const seen = (await console.listPci(20_000)).map((f) => f.address);
        expect(seen).toContain("0000:00:00.0");
        for (const rec of inst.recordedSlots.filter((r) => r.slot !== undefined)) {
          expect(seen, `${inst.name} guest should see ${rec.id}`).toContain(guestPciAddress(rec.slot!));
        }
      } finally {
        console.close();
      }
    }
  });

  it("has a .kvmd QMP socket beside .qmp, and a pid file naming the QEMU process", async () => {
    for (const inst of instances) {
      const qmp = await QmpClient.connect(await session.openUnixSocket(inst.paths.kvmd), { label: inst.paths.kvmd });
      expect(qmp.version.major).toBeGreaterThanOrEqual(7);
      qmp.close();
      const pid = Number((await readFile(inst.paths.pid, "utf8")).trim());
      expect(pid).toBe(inst.process.child.pid);
    }
  });

  it("backs NICs with taps on the lab bridge, recorded in nic/<instance>/<seq>, where the machine allows taps", async (ctx) => {
    if (node.network.mode !== "tap") ctx.skip(`no taps here, so lab NICs use QEMU user networking: ${node.network.reason}`);
    for (const inst of instances) {
      const tap = (await readFile(`${inst.paths.nicDir}/0`, "utf8")).trim();
      expect(tap).toBe(inst.taps[0]);
      const master = await readFile(`/sys/class/net/${tap}/master/uevent`, "utf8");
      expect(master).toContain(`INTERFACE=${node.network.bridge}`);
    }
  });

  it("tears down leaving no process, no link and no lab root behind", async () => {
    const pids = instances.map((i) => i.process.child.pid!);
    const root = node.root;
    const storage = node.storageDir;
    expect(existsSync(storage)).toBe(true);
    session.close();
    const { leftoverProcesses } = await node.stop();
    stopped = true;
    expect(leftoverProcesses).toEqual([]);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`), `QEMU ${pid} still running`).toBe(false);
    expect(existsSync(root)).toBe(false);
    expect(existsSync(storage), "the lab's file storage directory").toBe(false);
    expect(await leftoverLinks(node.labId)).toEqual([]);
  });
});
