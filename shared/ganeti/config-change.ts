// Changes to Ganeti's configuration as the app makes them: Ganeti's own
// commands, run on the master as argument vectors (never a shell string),
// and what they print. Pure: building the commands and reading their output.
//
// `gnt-instance modify` (Ganeti 3.0.2, seen on the lab's cluster) run with
// --print-jobid and without --submit prints, on stdout:
//   14                                                   the job id, first
//   Wed Dec  2 08:15:12 2026  - INFO: Trying to hotplug device...   its log, as it runs
//   Modified instance alpha
//    - nic.1 -> add:mac=aa:00:00:12:34:56,ip=None,mode=bridged,link=gnt-br0,network=None
//    - nic/2 -> hotplug:done                              what it changed
//   Please don't forget that most parameters take effect only at the next (re)start …
// and exits 0; a refused job prints "Failure: …" on stderr and exits 1. A
// --hotplug part Ganeti could not do is only a warning in its log and
// "hotplug:failed" in its changes: the configuration is changed all the
// same, and the exit status is 0.
import { z } from "zod";

/** NIC parameters as gnt-instance takes them ("key=value" joined by ","); values are checked by the caller's schemas (no "," or "="). */
export interface GanetiNicParams {
  mac?: string;
  link?: string;
  mode?: string;
  vlan?: string;
}

/** The fields the NIC list asks for, and its separator (no uuid, MAC or list holds it). */
const LIST_SEPARATOR = "|";

function params(p: GanetiNicParams): string {
  const out: string[] = [];
  for (const key of ["mac", "link", "mode", "vlan"] as const) {
    const v = p[key];
    if (v === undefined || v === "") continue;
    if (/[,=\s]/.test(v)) throw new Error(`NIC parameter ${key}=${JSON.stringify(v)} cannot be passed to gnt-instance: it holds a comma, "=" or a space`);
    out.push(`${key}=${v}`);
  }
  return out.join(",");
}

const MODIFY = ["gnt-instance", "modify", "--print-jobid"];

/** Record a NIC in Ganeti's configuration only (no --hotplug): Ganeti gives it a uuid and changes nothing live. */
export function nicAddArgv(instance: string, nic: GanetiNicParams): string[] {
  return [...MODIFY, "--net", `add:${params(nic)}`, instance];
}

/** Remove the NIC with this uuid: from the running instance too with `hotplug` (Ganeti unplugs it and saves the runtime file), else from the configuration only. */
export function nicRemoveArgv(instance: string, uuid: string, hotplug: boolean): string[] {
  return [...MODIFY, ...(hotplug ? ["--hotplug"] : []), "--net", `${uuid}:remove`, instance];
}

/**
 * Change the NIC with this uuid; with `hotplug` Ganeti unplugs it and plugs
 * it again at the same slot (-f: the review is the confirmation Ganeti
 * would otherwise ask for on a terminal, and without one it gives up).
 */
export function nicModifyArgv(instance: string, uuid: string, change: Pick<GanetiNicParams, "mac" | "link">, hotplug: boolean): string[] {
  const p = params(change);
  if (p === "") throw new Error("nothing to modify: give a MAC and/or a link");
  return [...MODIFY, ...(hotplug ? ["-f", "--hotplug"] : []), "--net", `${uuid}:modify,${p}`, instance];
}

/**
 * Record a new disk of `sizeMiB` in Ganeti's configuration only (no
 * --hotplug): Ganeti creates its storage (the file, for the file and
 * sharedfile templates), gives it a uuid and changes nothing live.
 */
export function diskAddArgv(instance: string, sizeMiB: number): string[] {
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new Error(`disk size ${sizeMiB} MiB: expected a whole number of MiB, at least 1`);
  return [...MODIFY, "--disk", `add:size=${sizeMiB}M`, instance];
}

/**
 * Remove the disk with this uuid through Ganeti's own hotplug: it unplugs
 * it, saves the runtime file, DELETES ITS STORAGE and drops it from its
 * configuration. Ganeti 3.0.2 refuses a disk remove on a running instance
 * without --hotplug; a disk not live makes only its hotplug part fail (a
 * warning), the rest is done all the same.
 */
export function diskRemoveArgv(instance: string, uuid: string): string[] {
  return [...MODIFY, "--hotplug", "--disk", `${uuid}:remove`, instance];
}

/**
 * Assemble the instance's disks on its primary node: for a disk recorded
 * without --hotplug this makes its link in instance-disks (Ganeti makes it
 * only when it assembles a disk). Prints "node:disk/N:path" per disk.
 */
export function activateDisksArgv(instance: string): string[] {
  return ["gnt-instance", "activate-disks", instance];
}

/** The instance's disk template and its disks' uuids in Ganeti's configuration. */
export function diskListArgv(instance: string): string[] {
  return ["gnt-instance", "list", "--no-headers", `--separator=${LIST_SEPARATOR}`, "-o", "disk_template,disk.uuids", instance];
}

/** Where Ganeti links a disk for QEMU (RUN_DIR/instance-disks/<instance>:<index>), as it names it. */
export function instanceDiskLink(instance: string, index: number): string {
  return `/var/run/ganeti/instance-disks/${instance}:${index}`;
}

/** The instance's NICs in Ganeti's configuration: their uuids and MACs, in order. */
export function nicListArgv(instance: string): string[] {
  return ["gnt-instance", "list", "--no-headers", `--separator=${LIST_SEPARATOR}`, "-o", "nic.uuids,nic.macs", instance];
}

/** The instance's NICs in Ganeti's configuration with their mode and link (what a repair plugs or records from it). */
export function nicDetailListArgv(instance: string): string[] {
  return ["gnt-instance", "list", "--no-headers", `--separator=${LIST_SEPARATOR}`, "-o", "nic.uuids,nic.macs,nic.modes,nic.links", instance];
}

/** A command as people read it (quoted only where a shell would need it); never run. */
export function argvText(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.split("'").join(`'\\''`)}'`)).join(" ");
}

/** One line of a Ganeti job's log as the command line prints it: its time, then "- TYPE: message". */
const LOG_LINE = /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} +- ([A-Z]+): (.*)$/;
const CHANGE_LINE = /^ - (\S+) -> (.*)$/;

export interface GanetiModifyOutput {
  jobId?: number;
  /** The job's log lines, as printed. */
  log: string[];
  /** What Ganeti says it changed (" - nic.1 -> add:…"). */
  changes: { what: string; value: string }[];
  /** A --hotplug part Ganeti could not do: its configuration changed all the same. */
  hotplugFailed: boolean;
}

/** Whether a line of the command's stdout is a line of the job's log (and not its id or the closing words). */
export function isJobLogLine(line: string): boolean {
  return LOG_LINE.test(line);
}

/** gnt-instance modify's stdout (see the top of this file). */
export function parseModifyOutput(stdout: string): GanetiModifyOutput {
  const lines = stdout.split("\n").map((l) => l.replace(/\r$/, ""));
  const first = lines.findIndex((l) => l.trim() !== "");
  const id = first >= 0 && /^\d+$/.test(lines[first]!.trim()) ? Number(lines[first]!.trim()) : undefined;
  const out: GanetiModifyOutput = { ...(id !== undefined ? { jobId: id } : {}), log: [], changes: [], hotplugFailed: false };
  for (const line of lines) {
    if (LOG_LINE.test(line)) out.log.push(line.trim());
    const c = CHANGE_LINE.exec(line);
    if (c) {
      out.changes.push({ what: c[1]!, value: c[2]! });
      if (c[2] === "hotplug:failed") out.hotplugFailed = true;
    }
  }
  return out;
}

/** Ganeti's words on stderr, on one line ("Failure: prerequisites not met …: Cannot find NIC …"). */
export function ganetiError(stderr: string): string {
  return stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ")
    .slice(-800);
}

/** A Python list of quoted uuids ("['u1', None]") as gnt-instance list prints it; null: not such a list. */
function uuidList(text: string): (string | null)[] | null {
  const list = text.trim();
  if (!/^\[.*\]$/.test(list)) return null;
  const inner = list.slice(1, -1).trim();
  return inner === "" ? [] : inner.split(",").map((s) => s.trim()).map((s) => (s === "None" ? null : s.replace(/^'(.*)'$/, "$1")));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export const GanetiNicSchema = z.object({ uuid: z.string().regex(UUID).nullable(), mac: z.string().regex(MAC) });
export type GanetiNic = z.infer<typeof GanetiNicSchema>;

/**
 * `gnt-instance list --no-headers --separator=| -o nic.uuids,nic.macs INST`:
 * one line, "['u1', 'u2']|m1,m2" (a NIC without a uuid is None). Throws
 * naming the output when it is not that.
 */
export function parseNicList(stdout: string): GanetiNic[] {
  const line = stdout.trim();
  const bad = (why: string) => new Error(`gnt-instance list printed ${JSON.stringify(line.slice(0, 300))}, not "[uuids]|macs" (${why}): is this Ganeti 2.8 or later?`);
  const at = line.lastIndexOf(LIST_SEPARATOR);
  if (line.includes("\n") || at < 0) throw bad("one line with a separator expected");
  const uuids = uuidList(line.slice(0, at));
  if (uuids === null) throw bad("the uuids are not a list");
  const macsText = line.slice(at + 1).trim();
  const macs = macsText === "" ? [] : macsText.split(",").map((m) => m.trim().toLowerCase());
  if (uuids.length !== macs.length) throw bad(`${uuids.length} uuids but ${macs.length} MACs`);
  const parsed = z.array(GanetiNicSchema).safeParse(uuids.map((uuid, i) => ({ uuid, mac: macs[i] })));
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return parsed.data;
}

export const GanetiDiskListSchema = z.object({ template: z.string().regex(/^[a-z_]+$/), uuids: z.array(z.string().regex(UUID).nullable()) });
export type GanetiDiskList = z.infer<typeof GanetiDiskListSchema>;

/**
 * `gnt-instance list --no-headers --separator=| -o disk_template,disk.uuids INST`:
 * one line, "sharedfile|['u1']" (diskless: "diskless|[]").
 */
export function parseDiskList(stdout: string): GanetiDiskList {
  const line = stdout.trim();
  const bad = (why: string) => new Error(`gnt-instance list printed ${JSON.stringify(line.slice(0, 300))}, not "template|[uuids]" (${why}): is this Ganeti 2.8 or later?`);
  const at = line.indexOf(LIST_SEPARATOR);
  if (line.includes("\n") || at < 0) throw bad("one line with a separator expected");
  const uuids = uuidList(line.slice(at + 1));
  if (uuids === null) throw bad("the uuids are not a list");
  const parsed = GanetiDiskListSchema.safeParse({ template: line.slice(0, at).trim(), uuids });
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return parsed.data;
}

export const ActivatedDiskSchema = z.object({ node: z.string().min(1), ivName: z.string().regex(/^disk\/\d+$/), path: z.string().startsWith("/") });
export type ActivatedDisk = z.infer<typeof ActivatedDiskSchema>;

/** `gnt-instance activate-disks INST`: "node:disk/N:path" per disk (the path of its storage on the node). */
export function parseActivateDisks(stdout: string): ActivatedDisk[] {
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[^:\s]+:disk\/\d+:\//.test(l))
    .map((l) => {
      const [node, ivName, ...rest] = l.split(":");
      return ActivatedDiskSchema.parse({ node, ivName, path: rest.join(":") });
    });
}

/** One Ganeti command a change ran on the master, for the outcome and the activity log. */
export const GanetiJobRunSchema = z.object({
  /** The plan step that ran it. */
  step: z.number().int(),
  /** As people read it (argvText). */
  command: z.string(),
  /** Run to undo the step. */
  undo: z.boolean().optional(),
  jobId: z.number().int().optional(),
  ok: z.boolean(),
  /** The job's log lines, as Ganeti printed them. */
  log: z.array(z.string()),
  /** What Ganeti said it changed. */
  changes: z.array(z.string()),
  /** Ganeti's error, when it refused. */
  error: z.string().optional(),
  /** The device's uuid: the one Ganeti gave it (a device it recorded) or the one it acted on. */
  uuid: z.string().optional(),
  /** A device it recorded: the uuid the plan used until Ganeti named its own. */
  provisionalUuid: z.string().optional(),
  /** A disk it recorded: where its storage is on the node, and what the plan said until Ganeti made it. */
  path: z.string().optional(),
  provisionalPath: z.string().optional(),
});
export type GanetiJobRun = z.infer<typeof GanetiJobRunSchema>;

export const GanetiNicDetailSchema = GanetiNicSchema.extend({ mode: z.string().max(32), link: z.string().max(64) });
export type GanetiNicDetail = z.infer<typeof GanetiNicDetailSchema>;

/**
 * `gnt-instance list --no-headers --separator=| -o nic.uuids,nic.macs,nic.modes,nic.links INST`:
 * "['u1', 'u2']|m1,m2|bridged,bridged|br0,br0" (gnt-instance joins MACs,
 * modes and links with commas; a routed NIC's link may be empty). Throws
 * naming the output when it is not that.
 */
export function parseNicDetailList(stdout: string): GanetiNicDetail[] {
  const line = stdout.trim();
  const bad = (why: string) => new Error(`gnt-instance list printed ${JSON.stringify(line.slice(0, 300))}, not "[uuids]|macs|modes|links" (${why}): is this Ganeti 2.8 or later?`);
  const parts = line.split(LIST_SEPARATOR);
  if (line.includes("\n") || parts.length !== 4) throw bad("one line of four fields expected");
  const [uuidsAndMacs, modesText, linksText] = [`${parts[0]}${LIST_SEPARATOR}${parts[1]}`, parts[2]!, parts[3]!];
  const nics = parseNicList(uuidsAndMacs);
  const split = (t: string) => (nics.length === 0 && t.trim() === "" ? [] : t.split(",").map((x) => x.trim()));
  const modes = split(modesText);
  const links = split(linksText);
  if (modes.length !== nics.length || links.length !== nics.length) throw bad(`${nics.length} NICs but ${modes.length} modes and ${links.length} links`);
  const parsed = z.array(GanetiNicDetailSchema).safeParse(nics.map((n, i) => ({ ...n, mode: modes[i], link: links[i] })));
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return parsed.data;
}
