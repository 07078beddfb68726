// The inventory against a lab node: every instance with its state,
// generation, and PCI/SCSI maps from both the runtime file and the live bus,
// and where they disagree.
import { sessionTarget } from "../../electron/lab/sshd.js";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { connect } from "node:net";
import { writeFile } from "node:fs/promises";
import { LabNode } from "../../electron/lab/node.js";
import { startDefaultInstances, buildInstanceRuntime, startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { QmpClient } from "../../electron/qmp/client.js";
import { loadInstanceView, loadNodeInventory } from "../../electron/inventory/node-inventory.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { InstanceViewSchema, type InstanceView } from "../../shared/inventory/view.js";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { z } from "zod";

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "--import", join(__dirname, "../../scripts/text-loader.mjs"), join(__dirname, "../../electron/cli/main.ts"), ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let node: LabNode;
let instances: StartedLabInstance[];
let session: NodeSession;
const MANY = 16;

beforeAll(async () => {
  node = await LabNode.start();
  instances = await startDefaultInstances(node);
  // A stopped instance (runtime file, no QEMU) and one the guest shut down itself.
  for (const name of ["echo.lab", "foxtrot.lab"]) {
    const { text } = await buildInstanceRuntime(node, { name, generation: "C", nics: 1, disks: [] });
    await writeFile(instancePaths(node.root, name).runtime, text, { mode: 0o600 });
  }
  await writeFile(instancePaths(node.root, "foxtrot.lab").shutdown, "");
  session = await NodeSession.open(sessionTarget(node.info));
});

afterAll(async () => {
  session?.close();
  await node?.stop();
});

const opts = () => ({ nodeId: "lab", root: node.root });
const find = (views: InstanceView[], name: string) => views.find((v) => v.name === name)!;

async function qmpLocal(path: string): Promise<QmpClient> {
  return QmpClient.connect(connect(path), { label: path });
}

describe("inventory of a lab node", () => {
  it("lists every instance with state, QEMU version, generation and both maps", async () => {
    const views = await loadNodeInventory(session, opts());
    for (const v of views) InstanceViewSchema.parse(v);
    expect(views.map((v) => v.name).sort()).toEqual(["alpha.lab", "bravo.lab", "charlie.lab", "delta.lab", "echo.lab", "foxtrot.lab"]);

    const alpha = find(views, "alpha.lab");
    expect(alpha).toMatchObject({ state: "running", generation: "C", liveChecked: true, reservedCount: 12 });
    expect(alpha.qemuVersion).toMatch(/^7\./);
    expect(alpha.pci[0xc]!.state).toBe("taken-both");
    expect(alpha.pci[0xd]!.state).toBe("taken-both");
    expect(alpha.pci[0x10]!.state).toBe("free");
    expect(alpha.pci[0x3]!.reserved).toBe(true);
    expect(alpha.devices.every((d) => d.live === true)).toBe(true);
    expect(alpha.devices.find((d) => d.kind === "nic")?.guestAddress).toBe("0000:00:0d.0");
    expect(alpha.drift).toEqual([]);
    // alpha's virtio-blk disk reports PCI class "SCSI controller"; it is not one.
    expect(alpha.scsiController).toBe(false);

    const bravo = find(views, "bravo.lab");
    expect(bravo).toMatchObject({ generation: "B", reservedCount: 3 });
    expect(bravo.pci[5]!.fileDevices[0]!.deviceId).toMatch(/^hotnic-[0-9a-f]{8}-pci-5$/);
    expect(bravo.notes.map((n) => n.rule)).toContain("pci-to-hvinfo");

    const charlie = find(views, "charlie.lab");
    expect(charlie.generation).toBe("A");
    expect(charlie.devices.every((d) => d.bus === "none" && d.removeBlocker)).toBe(true);

    const delta = find(views, "delta.lab");
    expect(delta.scsiController).toBe(true);
    expect(delta.scsi[0]!.state).toBe("taken-both");
    expect(delta.devices.find((d) => d.kind === "disk")).toMatchObject({ bus: "scsi", scsiId: 0, live: true });

    expect(find(views, "echo.lab")).toMatchObject({ state: "stopped", liveChecked: false, generation: "C" });
    expect(find(views, "foxtrot.lab")).toMatchObject({ state: "user-shutdown" });
  });

  it("shows drift when a device is added behind the runtime file's back", async () => {
    const alpha = instances.find((i) => i.name === "alpha.lab")!;
    const qmp = await qmpLocal(alpha.paths.qmp);
    await qmp.execute("device_add", { driver: "virtio-net-pci", id: "intruder", bus: "pci.0", addr: "0x10" });
    qmp.close();
    const view = await loadInstanceView(session, "alpha.lab", opts());
    expect(view.pci[0x10]).toMatchObject({ state: "taken-live", drift: "live-only" });
    expect(view.drift).toEqual([expect.objectContaining({ bus: "pci", at: 0x10, kind: "live-only" })]);
    expect(view.pci[0x10]!.reasons[0]!.message).toContain("intruder");
  });

  it("reports a held QMP socket as busy instead of hanging, and running again once released", async () => {
    const alpha = instances.find((i) => i.name === "alpha.lab")!;
    const holder = await qmpLocal(alpha.paths.qmp);
    try {
      const view = await loadInstanceView(session, "alpha.lab", { ...opts(), greetingTimeoutMs: 1000 });
      expect(view.state).toBe("busy");
      expect(view.stateDetail).toMatch(/another client/);
      expect(view.liveChecked).toBe(false);
      // The file is still read while the live bus is not.
      expect(view.generation).toBe("C");
    } finally {
      holder.close();
    }
    const after = await loadInstanceView(session, "alpha.lab", opts());
    expect(after.state).toBe("running");
  });

  it(`loads ${MANY} more instances at once`, async () => {
    for (let n = 0; n < MANY; n++) {
      await startLabInstance(node, { name: `many${n}.lab`, generation: n % 2 ? "C" : "B", nics: 1, disks: [{ bus: "pci" }], memoryMiB: 64, paused: true });
    }
    const views = await loadNodeInventory(session, opts());
    const many = views.filter((v) => v.name.startsWith("many"));
    expect(many).toHaveLength(MANY);
    for (const v of many) {
      expect(v.state, `${v.name}: ${v.stateDetail ?? ""}`).toBe("paused");
      expect(v.devices.every((d) => d.live === true), v.name).toBe(true);
      expect(v.drift).toEqual([]);
    }
  });

  it("is what `hotplug-desk inventory --json` prints, and the CLI refuses an unknown host key", async () => {
    const i = node.info;
    const args = ["inventory", "--node", `${i.user}@127.0.0.1:${i.port}`, "-i", i.privateKeyPath, "--root", node.root];
    const ok = await cli([...args, "--known-hosts", i.knownHostsPath, "--json"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    const out = z.object({ node: z.string(), root: z.string(), instances: z.array(InstanceViewSchema) }).parse(JSON.parse(ok.stdout));
    expect(out.instances.find((v) => v.name === "alpha.lab")?.state).toBe("running");
    expect(out.instances.find((v) => v.name === "bravo.lab")?.generation).toBe("B");
    const human = await cli([...args, "--known-hosts", i.knownHostsPath]);
    expect(human.stdout).toMatch(/alpha\.lab\s+running\s+gen C/);
    const refused = await cli([...args, "--known-hosts", "/dev/null", "--json"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(i.hostKeyFingerprint);
    const usage = await cli(["inventory", "--nodes", "x"]);
    expect(usage.code).toBe(2);
  });
});
