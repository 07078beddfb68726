// Ganeti's configuration changed the way admins change it: gnt-instance
// modify on the master, over SSH, as an argument vector. The command runs
// synchronously (no --submit) with --print-jobid, so one exec gives the job
// id first, then the job's log line by line as Ganeti works (passed on as
// progress), then what it changed; the job stays in Ganeti's queue for
// `gnt-job info ID`.
import type { NodeSession } from "../ssh/session.js";
import { ExecTimeoutError, execOnNode } from "../on-node/exec.js";
import { readConfigDataNow } from "../cluster/ganeti-files.js";
import {
  activateDisksArgv,
  argvText,
  diskListArgv,
  ganetiError,
  isJobLogLine,
  nicDetailListArgv,
  nicListArgv,
  parseActivateDisks,
  parseDiskList,
  parseModifyOutput,
  parseNicDetailList,
  parseNicList,
  type ActivatedDisk,
  type GanetiDiskList,
  type GanetiModifyOutput,
  type GanetiNic,
  type GanetiNicDetail,
} from "../../shared/ganeti/config-change.js";

/** How long a Ganeti command may take, its job's wait for Ganeti's locks included. */
export const GANETI_COMMAND_TIMEOUT_MS = 5 * 60_000;

export interface GanetiCommandResult {
  /** Ganeti did it (exit 0). A --hotplug part may still have failed: see output.hotplugFailed. */
  ok: boolean;
  command: string;
  output: GanetiModifyOutput;
  /** Ganeti's words when it refused. */
  error?: string;
}

export class GanetiCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GanetiCommandError";
  }
}

/**
 * Runs a gnt-instance modify on the master; `onLine` gets the job id as
 * soon as it is printed and each line of the job's log as Ganeti prints it.
 * Throws only when the command could not run or did not end in time.
 */
export async function runGanetiModify(
  master: NodeSession,
  argv: readonly string[],
  opts: { onJob?: (id: number) => void; onLine?: (line: string) => void; timeoutMs?: number } = {},
): Promise<GanetiCommandResult> {
  const command = argvText(argv);
  let pending = "";
  let jobSeen: number | undefined;
  const onStdout = (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (jobSeen === undefined && /^\d+$/.test(line.trim())) {
        jobSeen = Number(line.trim());
        opts.onJob?.(jobSeen);
      } else if (isJobLogLine(line)) opts.onLine?.(line.trim());
    }
  };
  let r;
  try {
    r = await execOnNode(master, argv, { timeoutMs: opts.timeoutMs ?? GANETI_COMMAND_TIMEOUT_MS, onStdout });
  } catch (err) {
    if (err instanceof ExecTimeoutError && jobSeen !== undefined) {
      throw new GanetiCommandError(`${command} on ${master.label} did not end in time; Ganeti's job ${jobSeen} may still run: see gnt-job info ${jobSeen} there.`);
    }
    throw err;
  }
  const output = parseModifyOutput(r.stdout);
  if (r.code === 0) return { ok: true, command, output };
  const said = ganetiError(r.stderr) || ganetiError(r.stdout) || `exit ${r.code ?? r.signal ?? "?"} without a word`;
  return { ok: false, command, output, error: said };
}

/** A read-only Ganeti command on the master, its output parsed by `parse`; failures (Ganeti's, or output not as expected) as GanetiCommandError. */
async function askMaster<T>(master: NodeSession, argv: readonly string[], parse: (stdout: string) => T, timeoutMs = 60_000): Promise<T> {
  const r = await execOnNode(master, argv, { timeoutMs });
  if (r.code !== 0) throw new GanetiCommandError(`${argvText(argv)} on ${master.label} failed: ${ganetiError(r.stderr) || `exit ${r.code ?? "?"}`}`);
  try {
    return parse(r.stdout);
  } catch (err) {
    throw new GanetiCommandError(`${(err as Error).message} (on ${master.label})`);
  }
}

/** The instance's NICs in Ganeti's configuration (uuid and MAC, in order), asked of the master. */
export async function ganetiNics(master: NodeSession, instance: string): Promise<GanetiNic[]> {
  return askMaster(master, nicListArgv(instance), parseNicList);
}

/** The instance's NICs in Ganeti's configuration with mode and link, asked of the master. */
export async function ganetiNicDetails(master: NodeSession, instance: string): Promise<GanetiNicDetail[]> {
  return askMaster(master, nicDetailListArgv(instance), parseNicDetailList);
}

/** How long config.data may lag the job that recorded a NIC (Ganeti's configuration daemon saves it on its own schedule). */
const CONFIG_DATA_LAG_MS = 400;

/**
 * The uuid of the instance's NIC with this MAC as the master's config.data
 * holds it: a file read instead of a Ganeti command (a command's start-up
 * alone costs a few hundred milliseconds). Undefined when the file does not
 * show exactly one such NIC in time; the caller then asks Ganeti.
 */
async function nicUuidInConfigData(master: NodeSession, instance: string, mac: string): Promise<string | undefined> {
  const until = Date.now() + CONFIG_DATA_LAG_MS;
  for (;;) {
    const config = await readConfigDataNow(master);
    const inst = Object.values(config.instances).find((i) => i.name === instance);
    const found = inst?.nics.filter((n) => n.mac?.toLowerCase() === mac.toLowerCase()) ?? [];
    if (found.length === 1 && found[0]!.uuid) return found[0]!.uuid;
    if (found.length > 1 || Date.now() >= until) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The uuid Ganeti's configuration has for the instance's NIC with this MAC (config.data first, else Ganeti's own answer). */
export async function ganetiNicUuid(master: NodeSession, instance: string, mac: string): Promise<string> {
  const fromFile = await nicUuidInConfigData(master, instance, mac).catch(() => undefined);
  if (fromFile) return fromFile;
  const nics = await ganetiNics(master, instance);
  const found = nics.filter((n) => n.mac === mac.toLowerCase());
  if (found.length !== 1 || !found[0]!.uuid) {
    throw new GanetiCommandError(
      found.length === 0
        ? `Ganeti's configuration of ${instance} has no NIC with MAC ${mac} (its NICs: ${nics.map((n) => n.mac).join(", ") || "none"}).`
        : `Ganeti's configuration of ${instance} has ${found.length > 1 ? `${found.length} NICs` : "a NIC without a uuid"} with MAC ${mac}: the NIC cannot be told apart.`,
    );
  }
  return found[0]!.uuid;
}

/** The instance's disk template and disks (uuids, in order) in Ganeti's configuration, asked of the master. */
export async function ganetiDisks(master: NodeSession, instance: string): Promise<GanetiDiskList> {
  return askMaster(master, diskListArgv(instance), parseDiskList);
}

/** Ganeti assembles the instance's disks (activate-disks): each disk's storage path on the primary node; its instance-disks link exists after it. */
export async function activateDisks(master: NodeSession, instance: string): Promise<ActivatedDisk[]> {
  const argv = activateDisksArgv(instance);
  const r = await execOnNode(master, argv, { timeoutMs: GANETI_COMMAND_TIMEOUT_MS });
  if (r.code !== 0) throw new GanetiCommandError(`${argvText(argv)} on ${master.label} failed: ${ganetiError(r.stderr) || `exit ${r.code ?? "?"}`}`);
  try {
    return parseActivateDisks(r.stdout);
  } catch (err) {
    throw new GanetiCommandError(`${argvText(argv)} on ${master.label} printed what it should not: ${(err as Error).message}`);
  }
}
