// What the Ganeti suite checks the lab never changes on the machine itself,
// and what its global setup hands the test files.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { GanetiLabInfo } from "../../electron/lab/ganeti/lab.js";
import { run } from "../../electron/lab/ganeti/exec.js";

export type GanetiLabProvided = { available: false; reason: string } | { available: true; info: GanetiLabInfo; machineBefore: MachineFingerprint };

export interface MachineFingerprint {
  hostname: string;
  etcHosts: string;
  rootSsh: string;
  /** Lab addresses (TEST-NET-2) on the machine's own interfaces: must stay none. */
  labAddresses: string[];
}

const sha = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

/** What the lab must never change on the machine itself. */
export async function machineFingerprint(): Promise<MachineFingerprint> {
  let rootSsh = "absent";
  if (existsSync("/root/.ssh")) {
    const files = (await readdir("/root/.ssh")).sort();
    rootSsh = sha(JSON.stringify(await Promise.all(files.map(async (f) => [f, sha(await readFile(join("/root/.ssh", f)).catch(() => Buffer.from("dir")))]))));
  }
  const addrs = (await run(["ip", "-o", "addr", "show"])).stdout;
  return {
    hostname: hostname(),
    etcHosts: sha(await readFile("/etc/hosts")),
    rootSsh,
    labAddresses: addrs.split("\n").filter((l) => /198\.51\.100\./.test(l)),
  };
}

