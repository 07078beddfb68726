/**
 * A runtime-file change in words: which devices appear, disappear or change
 * (matched by uuid, else by position), kvm_cmd additions, and a format
 * change. For previews and logs; the bytes themselves come from writeRuntime.
 */
import { GENERATION_LABEL, type Disk, type DiskEntry, type Generation, type Nic, type Runtime } from "../runtime";

function where(dev: Nic | Disk): string {
  const h = dev.hvinfo;
  if (h?.bus === "pci.0" && typeof h.addr === "string") return `pci.0 slot ${h.addr}`;
  if (h?.bus === "scsi.0" && typeof h["scsi-id"] === "number") return `scsi.0 target ${h["scsi-id"]}`;
  if (typeof dev.pci === "number") return `pci ${dev.pci}`;
  return "no recorded slot";
}

function nicLine(n: Nic): string {
  const id = n.hvinfo?.id ?? "(no id)";
  const p = n.nicparams ?? {};
  return `${id} ${n.hvinfo?.driver ?? ""} at ${where(n)}, mac ${n.mac ?? "?"}, ${p.mode ?? "?"} ${p.link ?? ""}${p.vlan ? ` vlan ${p.vlan}` : ""}`.replace(/ {2,}/g, " ").trim();
}

function diskLine(e: DiskEntry): string {
  const d = e.disk;
  return `${d.hvinfo?.id ?? "(no id)"} ${d.hvinfo?.driver ?? ""} at ${where(d)}, ${e.uri ?? e.linkName}${typeof d.size === "number" ? `, ${d.size} MiB` : ""}`.replace(/ {2,}/g, " ").trim();
}

function keyOf(uuid: string | undefined, index: number): string {
  return uuid ?? `#${index}`;
}

function diffList<T>(label: string, before: T[], after: T[], uuid: (x: T) => string | undefined, line: (x: T) => string, out: string[]): void {
  const b = new Map(before.map((x, i) => [keyOf(uuid(x), i), { x, i }]));
  const a = new Map(after.map((x, i) => [keyOf(uuid(x), i), { x, i }]));
  for (const [k, { x, i }] of b) {
    const now = a.get(k);
    if (!now) out.push(`- ${label}[${i}]: ${line(x)}`);
    else if (line(now.x) !== line(x)) out.push(`~ ${label}[${now.i}]: ${line(x)} → ${line(now.x)}`);
  }
  for (const [k, { x, i }] of a) if (!b.has(k)) out.push(`+ ${label}[${i}]: ${line(x)}`);
}

/**
 * `beforeKvmCmd`: the kvm_cmd as written in the file (before the in-memory
 * upgrade), when `after.kvmCmd` was built from it.
 */
export function describeRuntimeChange(before: Runtime, beforeGen: Generation, after: Runtime, afterGen: Generation, beforeKvmCmd?: readonly (string | number)[]): string[] {
  const out: string[] = [];
  if (beforeGen !== afterGen) out.push(`~ format: generation ${beforeGen} (${GENERATION_LABEL[beforeGen]}) → ${afterGen} (${GENERATION_LABEL[afterGen]})`);
  const bc = (beforeKvmCmd ?? before.kvmCmd).map(String);
  const ac = after.kvmCmd.map(String);
  if (ac.length > bc.length && bc.every((x, i) => ac[i] === x)) out.push(`+ kvm_cmd: ${ac.slice(bc.length).join(" ")}`);
  else if (ac.length !== bc.length || ac.some((x, i) => x !== bc[i])) out.push("~ kvm_cmd changed");
  diffList("nics", before.nics, after.nics, (n) => n.uuid, nicLine, out);
  diffList("disks", before.disks, after.disks, (e) => e.disk.uuid, diskLine, out);
  if (out.length === 0) out.push("= no change to devices");
  return out;
}
