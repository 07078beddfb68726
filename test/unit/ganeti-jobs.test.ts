// Ganeti's job queue as the app reads it: gnt-job list's lines, and which
// jobs act on an instance (from Ganeti 3.0's opcodes; see shared/ganeti/jobs.ts).
import { describe, expect, it } from "vitest";
import { UNFINISHED_JOBS_FILTER, jobActsOn, parseJobList, type GanetiJob } from "../../shared/ganeti/jobs.js";

const job = (summary: string, status: GanetiJob["status"] = "running"): GanetiJob => parseJobList(`1|${status}|${summary}\n`)[0]!;

describe("gnt-job list output", () => {
  it("reads id, status and each opcode with the value Ganeti names it by", () => {
    const jobs = parseJobList("7|running|INSTANCE_SET_PARAMS(bravo)\n12|queued|INSTANCE_SHUTDOWN(web1.example.org),INSTANCE_STARTUP(web1.example.org)\n13|waiting|CLUSTER_VERIFY\n\n");
    expect(jobs).toEqual([
      { id: 7, status: "running", summary: "INSTANCE_SET_PARAMS(bravo)", ops: [{ op: "INSTANCE_SET_PARAMS", target: "bravo" }] },
      {
        id: 12,
        status: "queued",
        summary: "INSTANCE_SHUTDOWN(web1.example.org),INSTANCE_STARTUP(web1.example.org)",
        ops: [
          { op: "INSTANCE_SHUTDOWN", target: "web1.example.org" },
          { op: "INSTANCE_STARTUP", target: "web1.example.org" },
        ],
      },
      { id: 13, status: "waiting", summary: "CLUSTER_VERIFY", ops: [{ op: "CLUSTER_VERIFY" }] },
    ]);
  });

  it("refuses output that is not ID|STATUS|SUMMARY, quoting the line", () => {
    expect(() => parseJobList("ID Status Summary\n")).toThrow(/"ID Status Summary", not "ID\|STATUS\|SUMMARY"/);
    expect(() => parseJobList("7|exploded|INSTANCE_STARTUP(a)\n")).toThrow(/7\|exploded/);
  });

  it("asks Ganeti only for jobs not yet finished", () => {
    expect(UNFINISHED_JOBS_FILTER).toBe('status == "queued" or status == "waiting" or status == "canceling" or status == "running"');
  });
});

describe("which jobs act on an instance", () => {
  it("counts every instance opcode naming it (any case) that may touch its runtime file or QEMU", () => {
    for (const op of ["INSTANCE_SET_PARAMS", "INSTANCE_MIGRATE", "INSTANCE_FAILOVER", "INSTANCE_REBOOT", "INSTANCE_SHUTDOWN", "INSTANCE_STARTUP", "INSTANCE_MOVE", "INSTANCE_REMOVE", "BACKUP_EXPORT"]) {
      expect(jobActsOn(job(`${op}(bravo)`), "bravo"), op).toBe(true);
      expect(jobActsOn(job(`${op}(BRAVO)`), "bravo"), `${op} upper case`).toBe(true);
      expect(jobActsOn(job(`${op}(alpha)`), "bravo"), `${op} on another instance`).toBe(false);
    }
  });

  it("leaves out opcodes that only read it or create others", () => {
    expect(jobActsOn(job("INSTANCE_CONSOLE(bravo)"), "bravo")).toBe(false);
    expect(jobActsOn(job("INSTANCE_QUERY_DATA"), "bravo")).toBe(false);
    expect(jobActsOn(job("INSTANCE_MULTI_ALLOC"), "bravo")).toBe(false);
    expect(jobActsOn(job("CLUSTER_VERIFY"), "bravo")).toBe(false);
    expect(jobActsOn(job("NODE_SET_PARAMS(node2.example)"), "bravo", "node2.example")).toBe(false);
  });

  it("counts a node's migration, evacuation or power cycle for its instances (every node's, when the instance's node is unknown)", () => {
    for (const op of ["NODE_MIGRATE", "NODE_EVACUATE", "NODE_POWERCYCLE"]) {
      expect(jobActsOn(job(`${op}(node2.example)`), "bravo", "node2.example"), op).toBe(true);
      expect(jobActsOn(job(`${op}(node1.example)`), "bravo", "node2.example"), `${op} elsewhere`).toBe(false);
      expect(jobActsOn(job(`${op}(node1.example)`), "bravo"), `${op}, node unknown`).toBe(true);
    }
    expect(jobActsOn(job("GROUP_EVACUATE(default)"), "bravo", "node2.example")).toBe(true);
  });

  it("counts a job with several opcodes when any one acts on the instance", () => {
    expect(jobActsOn(job("CLUSTER_VERIFY,INSTANCE_REBOOT(bravo)"), "bravo")).toBe(true);
  });
});
