// The hotplug CLI against a lab node: the same planner and executor, one
// JSON document on stdout, and an exit status scripts can act on.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabNode } from "../../electron/lab/node.js";
import { startLabInstance, type StartedLabInstance } from "../../electron/lab/instances.js";
import { runHotplugCommand } from "../../electron/cli/hotplug-commands.js";
import { readRuntime } from "../../shared/runtime/index.js";

let node: LabNode;
let nov: StartedLabInstance;
let journalDir: string;
const ourTaps: string[] = [];

beforeAll(async () => {
  node = await LabNode.start();
  // Paused: device_add works, device_del never completes (no guest).
  nov = await startLabInstance(node, { name: "november.lab", generation: "C", nics: 1, disks: [], memoryMiB: 64, paused: true });
  journalDir = await mkdtemp(join(tmpdir(), "hd-journal-"));
});

afterAll(async () => {
  await node?.stop();
  for (const t of ourTaps) if (existsSync(`/sys/class/net/${t}`)) execFileSync("ip", ["link", "del", t]);
  if (journalDir) await rm(journalDir, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; json: Record<string, unknown>; err: string }> {
  const i = node.info;
  let out = "";
  let err = "";
  const code = await runHotplugCommand(
    [...args, "--node", `${i.user}@${i.host}:${i.port}`, "-i", i.privateKeyPath, "--known-hosts", i.knownHostsPath, "--root", node.root, "--journal", journalDir],
    { out: (t) => void (out += t), err: (t) => void (err += t) },
  );
  return { code, json: out ? (JSON.parse(out) as Record<string, unknown>) : {}, err };
}

describe("hotplug CLI", () => {
  const uuid = "5f0c6b1e-2d3a-4b5c-8d7e-9f0a1b2c3d4e";

  it("--dry-run prints the plan and changes nothing", async () => {
    const before = await readFile(nov.paths.runtime, "utf8");
    const r = await cli("nic", "add", "november.lab", "--slot", "0x10", "--uuid", uuid, "--ganeti-version", "3.0.2", "--dry-run");
    expect(r.code).toBe(0);
    expect(r.json.status).toBe("dry-run");
    const plan = r.json.plan as { steps: { kind: string }[]; slot: { slot: number }; fileTextAfter: string };
    expect(plan.slot.slot).toBe(0x10);
    expect(plan.steps.map((s) => s.kind)).toContain("node-tap-create");
    // The link comes from the instance's first NIC when --link is not given.
    expect(plan.fileTextAfter).toContain(`"link": "${node.network.bridge}"`);
    expect(await readFile(nov.paths.runtime, "utf8")).toBe(before);
  });

  it("nic add runs the plan, exits 0 and reports what was written; migrate-check then finds file and bus consistent", async () => {
    ourTaps.push(`tap${uuid.slice(0, 8)}`);
    const r = await cli("nic", "add", "november.lab", "--slot", "0x10", "--uuid", uuid, "--mac", "aa:00:00:0a:0b:0c");
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.status).toBe("done");
    expect(r.json.readersAssumed).toMatch(/assumed Ganeti 3\.0\.2/);
    expect(r.json.result).toMatchObject({ ok: true, written: { generation: "C" } });
    expect(r.err).toMatch(/done: .*pass the fd to QEMU/);
    expect(await readFile(nov.paths.runtime, "utf8")).toContain('"mac": "aa:00:00:0a:0b:0c"');

    const check = await cli("migrate-check", "november.lab");
    expect(check.code).toBe(0);
    expect(check.json).toMatchObject({ status: "consistent", ok: true, problems: [] });
  });

  it("nic remove on a guest that cannot release it: exit 1, status failed, still in use by the guest", async () => {
    const r = await cli("nic", "remove", "november.lab", uuid, "--unplug-timeout", "2000");
    expect(r.code).toBe(1);
    expect(r.json.status).toBe("failed");
    expect((r.json.result as { cause: string; error: { message: string } }).cause).toBe("guest-holds-device");
    expect((r.json.result as { error: { message: string } }).error.message).toContain("still in use by the guest");
    expect(await readFile(nov.paths.runtime, "utf8")).toContain(uuid);
  });

  it("nic move: --dry-run plans the unplug and the plug as one change, written once; without --slot it is a bad command line", async () => {
    const before = await readFile(nov.paths.runtime, "utf8");
    const nic0 = readRuntime(before).runtime.nics[0]!;
    const r = await cli("nic", "move", "november.lab", nic0.uuid!, "--slot", "0x12", "--dry-run");
    expect(r.code, JSON.stringify(r.json)).toBe(0);
    expect(r.json.status).toBe("dry-run");
    expect((r.json.intents as { action: string }[]).map((i) => i.action)).toEqual(["remove", "add-nic"]);
    const plan = r.json.plan as { steps: { kind: string }[]; slot: { slot: number }; fileTextAfter: string };
    expect(plan.slot.slot).toBe(0x12);
    expect(plan.steps.filter((s) => s.kind === "write-runtime")).toHaveLength(1);
    const moved = readRuntime(plan.fileTextAfter).runtime.nics.find((n) => n.uuid === nic0.uuid);
    expect(moved).toMatchObject({ mac: nic0.mac, hvinfo: { addr: "0x12" } });
    expect(await readFile(nov.paths.runtime, "utf8")).toBe(before);
    const bad = await cli("nic", "move", "november.lab", nic0.uuid!);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("missing --slot");
  });

  it("refusals and bad command lines have their own statuses", async () => {
    const taken = await cli("disk", "add", "november.lab", "--path", await node.createDisk("november.lab", 3, 8), "--slot", "0x10");
    expect(taken.code).toBe(1);
    expect(taken.json.status).toBe("refused");
    expect(JSON.stringify(taken.json.refusals)).toMatch(/slot-unavailable/);
    const bad = await cli("disk", "add", "november.lab");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("missing --path");
  });
});
