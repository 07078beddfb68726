// Ganeti's configuration changed with its own commands: the argument
// vectors the app runs on the master, and what gnt-instance prints back
// (outputs captured from the lab's Ganeti 3.0.2 cluster).
import { describe, expect, it } from "vitest";
import { argvText, ganetiError, isJobLogLine, nicAddArgv, nicListArgv, nicModifyArgv, nicRemoveArgv, parseModifyOutput, parseNicList } from "../../shared/ganeti/config-change";

const CONFIG_ONLY_ADD = `7
Modified instance alpha
 - nic.1 -> add:mac=aa:00:00:12:34:56,ip=None,mode=bridged,link=gnt-br0,network=None
Please don't forget that most parameters take effect only at the next (re)start of the instance initiated by ganeti; restarting from within the instance will not be enough.
`;

const HOT_MODIFY = `14
Wed Dec  2 08:15:12 2026  - INFO: Trying to hotplug device...
Wed Dec  2 08:15:13 2026  - INFO: Hotplug done.
Modified instance alpha
 - nic.link/2 -> gnt-br0
 - nic.mode/2 -> bridged
 - nic.vlan/2 -> 
 - nic/2 -> hotplug:done
Please don't forget that most parameters take effect only at the next (re)start of the instance initiated by ganeti; restarting from within the instance will not be enough.
`;

const HOT_REMOVE_FAILED = `13
Wed Dec  2 08:14:47 2026  - INFO: Trying to hotplug device...
Wed Dec  2 08:14:47 2026  - WARNING: Could not hotplug device: Error while executing backend function: Cannot find runtime info for nic with UUID 5e3604b5-90ed-4c63-9e6a-068bd15f1aea
Wed Dec  2 08:14:47 2026  - INFO: Continuing execution..
Modified instance alpha
 - NIC/1 -> remove
 - NIC/1 -> hotplug:failed
Please don't forget that most parameters take effect only at the next (re)start of the instance initiated by ganeti; restarting from within the instance will not be enough.
`;

describe("the commands run on the master", () => {
  it("records a NIC in the configuration only: no --hotplug, every parameter given, the job id printed first", () => {
    expect(nicAddArgv("web1", { mac: "aa:00:00:12:34:56", link: "br0", mode: "bridged", vlan: "" })).toEqual([
      "gnt-instance",
      "modify",
      "--print-jobid",
      "--net",
      "add:mac=aa:00:00:12:34:56,link=br0,mode=bridged",
      "web1",
    ]);
    expect(nicAddArgv("web1", { mac: "aa:00:00:12:34:56", mode: "routed", vlan: ".100" })[4]).toBe("add:mac=aa:00:00:12:34:56,mode=routed,vlan=.100");
  });

  it("removes and modifies by uuid, with Ganeti's own hotplug or in the configuration only; a hot-modify answers Ganeti's question (-f)", () => {
    const u = "9893c76e-71d8-4f6e-821b-dd36ff853f70";
    expect(nicRemoveArgv("web1", u, true)).toEqual(["gnt-instance", "modify", "--print-jobid", "--hotplug", "--net", `${u}:remove`, "web1"]);
    expect(nicRemoveArgv("web1", u, false)).toEqual(["gnt-instance", "modify", "--print-jobid", "--net", `${u}:remove`, "web1"]);
    expect(nicModifyArgv("web1", u, { link: "br1" }, true)).toEqual(["gnt-instance", "modify", "--print-jobid", "-f", "--hotplug", "--net", `${u}:modify,link=br1`, "web1"]);
    expect(() => nicModifyArgv("web1", u, {}, true)).toThrow(/nothing to modify/);
    expect(nicListArgv("web1")).toEqual(["gnt-instance", "list", "--no-headers", "--separator=|", "-o", "nic.uuids,nic.macs", "web1"]);
  });

  it("refuses a value that would split Ganeti's parameter list", () => {
    expect(() => nicAddArgv("web1", { mac: "aa:00:00:12:34:56", link: "br0,mode=routed" })).toThrow(/comma/);
    expect(() => nicAddArgv("web1", { mac: "aa:00:00:12:34:56", link: "a=b" })).toThrow(/"="/);
  });

  it("shows a command as people type it, quoting only what a shell would need", () => {
    expect(argvText(["gnt-instance", "modify", "--net", "add:mac=aa:00:00:12:34:56,link=br0", "web 1"])).toBe("gnt-instance modify --net add:mac=aa:00:00:12:34:56,link=br0 'web 1'");
  });
});

describe("what gnt-instance modify prints", () => {
  it("a configuration-only add: the job id, what changed, no log", () => {
    expect(parseModifyOutput(CONFIG_ONLY_ADD)).toEqual({
      jobId: 7,
      log: [],
      changes: [{ what: "nic.1", value: "add:mac=aa:00:00:12:34:56,ip=None,mode=bridged,link=gnt-br0,network=None" }],
      hotplugFailed: false,
    });
  });

  it("a hot-modify: its log lines as they came, what changed, hotplug done", () => {
    const o = parseModifyOutput(HOT_MODIFY);
    expect(o.jobId).toBe(14);
    expect(o.log).toEqual(["Wed Dec  2 08:15:12 2026  - INFO: Trying to hotplug device...", "Wed Dec  2 08:15:13 2026  - INFO: Hotplug done."]);
    expect(o.changes.map((c) => `${c.what} -> ${c.value}`)).toEqual(["nic.link/2 -> gnt-br0", "nic.mode/2 -> bridged", "nic.vlan/2 -> ", "nic/2 -> hotplug:done"]);
    expect(o.hotplugFailed).toBe(false);
    expect(HOT_MODIFY.split("\n").filter(isJobLogLine)).toHaveLength(2);
  });

  it("a hot-remove Ganeti could not do: exit 0, but its configuration changed and the hotplug failed", () => {
    const o = parseModifyOutput(HOT_REMOVE_FAILED);
    expect(o.hotplugFailed).toBe(true);
    expect(o.log[1]).toMatch(/WARNING: Could not hotplug device: .*Cannot find runtime info for nic/);
  });

  it("a refusal, on one line", () => {
    expect(ganetiError("Failure: prerequisites not met for this operation:\nerror type: unknown_entity, error details:\nCannot find NIC with identifier 00000000-0000-0000-0000-000000000000\n")).toBe(
      "Failure: prerequisites not met for this operation: error type: unknown_entity, error details: Cannot find NIC with identifier 00000000-0000-0000-0000-000000000000",
    );
  });
});

describe("the instance's NICs as gnt-instance list prints them", () => {
  it("uuids as a list, MACs joined by commas, in order", () => {
    expect(parseNicList("['d3110570-b018-470e-99a4-234011c5a647', '9893c76e-71d8-4f6e-821b-dd36ff853f70']|aa:00:00:df:f5:f9,aa:00:00:12:34:56\n")).toEqual([
      { uuid: "d3110570-b018-470e-99a4-234011c5a647", mac: "aa:00:00:df:f5:f9" },
      { uuid: "9893c76e-71d8-4f6e-821b-dd36ff853f70", mac: "aa:00:00:12:34:56" },
    ]);
    expect(parseNicList("[]|\n")).toEqual([]);
    expect(parseNicList("[None]|aa:00:00:df:f5:f9")).toEqual([{ uuid: null, mac: "aa:00:00:df:f5:f9" }]);
  });

  it("refuses what is not that, naming the output", () => {
    expect(() => parseNicList("['d3110570-b018-470e-99a4-234011c5a647']|aa:00:00:df:f5:f9,aa:00:00:12:34:56")).toThrow(/1 uuids but 2 MACs/);
    expect(() => parseNicList("Unknown field 'nic.uuids'")).toThrow(/gnt-instance list printed "Unknown field/);
    expect(() => parseNicList("['not-a-uuid']|aa:00:00:df:f5:f9")).toThrow(/uuid/);
  });
});
