// `hotplug-desk repair`: the command line is checked before any node is
// reached (a bad one exits 2 with the usage), and its help lists every repair.
import { beforeAll, describe, expect, it } from "vitest";
import { REPAIR_KINDS } from "../../shared/hotplug";
import { buildCli, runCli } from "./cli-bundle";

beforeAll(() => {
  buildCli();
});

describe("hotplug-desk repair", () => {
  const node = ["--node", "root@192.0.2.1"];

  it("needs the instance, the device and --action, and names the repairs when --action is wrong", () => {
    const noAction = runCli(["repair", "web1", "nic-5f0c6b1e-2d3a-4b5c", ...node]);
    expect(noAction.code).toBe(2);
    expect(noAction.stderr).toMatch(/^hotplug-desk: repair: missing --action \(one of adopt, record, unplug, replug, forget, plug, unrecord\)\n/);
    const bad = runCli(["repair", "web1", "nic-5f0c6b1e-2d3a-4b5c", "--action", "fix", ...node]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^hotplug-desk: --action fix: expected one of adopt, record, unplug, replug, forget, plug, unrecord\n/);
    const noRef = runCli(["repair", "web1", "--action", "adopt", ...node]);
    expect(noRef.code).toBe(2);
    expect(noRef.stderr).toMatch(/^hotplug-desk: repair: missing ID\|UUID of the device/);
    const extra = runCli(["repair", "web1", "a", "b", "--action", "adopt", ...node]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^hotplug-desk: repair: unexpected b\n/);
  });

  it("lists every repair in its help", () => {
    const help = runCli(["repair", "--help"]);
    expect(help.code).toBe(0);
    for (const k of REPAIR_KINDS) expect(help.stdout).toMatch(new RegExp(`^ {28}${k} +\\S`, "m"));
  });
});
