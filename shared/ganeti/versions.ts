/**
 * What each Ganeti release reads and does, in one table, and the one parser
 * of Ganeti version strings. Everything that asks about versions asks here.
 *
 * Sources (ganeti/ganeti on GitHub, every release tag read):
 * - NIC and Disk keys: `lib/objects.py` `NIC.__slots__` / `Disk.__slots__`.
 *   Readers build these objects with `cls(**dict)`, and `ValidatedSlots`
 *   raises TypeError on any key that is not a slot, so a runtime file whose
 *   NIC or Disk dict (a disk's `children` too) carries one key more than the
 *   reader knows does not load at all.
 * - reserved slots: `_DEFAULT_PCI_RESERVATIONS` and the `kvm_pci_reservations`
 *   hvparam in `lib/hypervisor/hv_kvm` (research/ganeti-kvm.md §5.1);
 * - device ids and hotplug commands: research/ganeti-kvm.md §4 and §6.
 *
 * | releases            | gen | reserved slots         | ids | SCSI | hotplug                 | python3 |
 * |---------------------|-----|------------------------|-----|------|-------------------------|---------|
 * | 2.0 – 2.9           | A   | –                      | –   | no   | none                    | 3.5     |
 * | 2.10.0 – 2.10.1     | B   | 4 (0x00–0x03)          | v1  | no   | HMP (socat)             | 3.5     |
 * | 2.10.2 – 2.12       | B   | 3 (0x00–0x02)          | v1  | no   | HMP (socat)             | 3.5     |
 * | 2.13 – 2.16.0beta1  | B   | 3                      | v1  | no   | QMP, HMP drive_del      | 3.5     |
 * | 2.16.0beta2 – 3.0   | C   | kvm_pci_reservations=12| v2  | yes  | QMP, HMP drive_add/del  | 3.5/3.6 |
 * | 3.1 –               | C   | kvm_pci_reservations=12| v2  | yes  | QMP only (-blockdev)    | 3.6     |
 *
 * Every release reads its own generation and the older ones, except 3.1:
 * its loader (3.1.0~rc2, Debian trixie) fails on a generation A file.
 *
 * Disk keys grew inside generation B: 2.10–2.11 read children, dev_type,
 * dynamic_params, iv_name, logical_id, mode, name, params, pci, size,
 * spindles, uuid; 2.12–2.13 add ctime, mtime, serial_no; 2.14–2.16.0beta1
 * add forthcoming and nodes. NIC keys are the same from 2.10.0 to 2.16.0beta1.
 *
 * "python3" is the oldest python3 the node helper meets on such nodes
 * (Debian 9 ships Ganeti 2.15 with Python 3.5; Ganeti 3.x itself needs 3.6).
 *
 * Pre-releases sort before their release (2.16.0beta1 < 2.16.0beta2 <
 * 2.16.0rc1 < 2.16.0), so a pre-release of x.y.0 falls in the row before
 * x.y.0 unless the table names it (2.16.0beta1 still writes `pci`).
 */

export const GENERATIONS = ["A", "B", "C"] as const;
/** Runtime-file generation: A = 3 entries, B = integer `pci`, C = `hvinfo` (shared/runtime/generation.ts). */
export type RuntimeGeneration = (typeof GENERATIONS)[number];

export interface GanetiVersion {
  major: number;
  minor: number;
  patch: number;
  /** A pre-release (2.16.0beta1, 2.16.0~rc1), or null for a release. */
  pre: { tag: "alpha" | "beta" | "rc"; n: number } | null;
}

const VERSION =
  /^\s*v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[~.-]?(alpha|beta|rc)(\d{0,4}))?(?:[-+~][0-9A-Za-z.+~:-]*)?\s*$/i;

/**
 * Reads "2.15.2", "v2.16.0", "3.0", "2.16.0beta2", "2.16.0~rc1" and Debian
 * forms such as "2.15.2-1" or "2.16.0~beta1-1" (the revision is ignored).
 * Returns null for anything else.
 */
export function parseGanetiVersion(text: string): GanetiVersion | null {
  const m = VERSION.exec(text);
  if (!m) return null;
  const pre = m[4] ? { tag: m[4].toLowerCase() as "alpha" | "beta" | "rc", n: Number(m[5] || "0") } : null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? "0"), pre };
}

export class GanetiVersionError extends Error {
  constructor(readonly text: string) {
    super(`${JSON.stringify(text)} is not a Ganeti version (expected e.g. "2.15.2" or "3.0.2", as \`gnt-cluster version\` prints it)`);
    this.name = "GanetiVersionError";
  }
}

/** parseGanetiVersion, or GanetiVersionError naming the text and the expected form. */
export function requireGanetiVersion(text: string): GanetiVersion {
  const v = parseGanetiVersion(text);
  if (!v) throw new GanetiVersionError(text);
  return v;
}

const PRE_RANK = { alpha: 0, beta: 1, rc: 2 } as const;

/** Negative when `a` is older than `b`; a pre-release is older than its release. */
export function compareGanetiVersions(a: GanetiVersion, b: GanetiVersion): number {
  const d = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (d !== 0) return d;
  if (!a.pre || !b.pre) return (a.pre ? -1 : 0) - (b.pre ? -1 : 0);
  return PRE_RANK[a.pre.tag] - PRE_RANK[b.pre.tag] || a.pre.n - b.pre.n;
}

/** "2.16.0", "2.16.0beta1". */
export function formatGanetiVersion(v: GanetiVersion): string {
  return `${v.major}.${v.minor}.${v.patch}${v.pre ? `${v.pre.tag}${v.pre.n}` : ""}`;
}

/** The oldest of `versions` (texts), or GanetiVersionError for one that is not a version. */
export function oldestGanetiVersion(versions: readonly string[]): { text: string; version: GanetiVersion } | undefined {
  let best: { text: string; version: GanetiVersion } | undefined;
  for (const text of versions) {
    const version = requireGanetiVersion(text);
    if (!best || compareGanetiVersions(version, best.version) < 0) best = { text, version };
  }
  return best;
}

export type PciReservation =
  /** No hotplug: nothing is placed at a slot of Ganeti's choosing. */
  | { kind: "none" }
  /** A fixed bitmap: slots 0 .. count-1. */
  | { kind: "fixed"; count: number; why: string }
  /** The `kvm_pci_reservations` hvparam (0..32), this count when unset. */
  | { kind: "hvparam"; default: number };

/**
 * How Ganeti hotplugs: "hmp" (2.10–2.12: HMP over socat, fds over the
 * monitor socket), "qmp" (2.13–2.16.0beta1: QMP, HMP only for drive_del),
 * "qmp-hmp-drive" (2.16–3.0: QMP, drive_add/drive_del through HMP inside
 * the QMP session), "qmp-blockdev" (3.1+: QMP only, -blockdev).
 */
export type HotplugMethod = "none" | "hmp" | "qmp" | "qmp-hmp-drive" | "qmp-blockdev";

export interface GanetiRelease {
  /** First version of the row (inclusive). */
  from: string;
  /** What the row covers, for messages ("2.10.2 – 2.12"). */
  label: string;
  generation: RuntimeGeneration;
  /** The oldest generation its loader reads (3.1.0's fails on a 3-entry generation A file with IndexError). */
  oldestReads: RuntimeGeneration;
  pciReservation: PciReservation;
  /** QEMU device ids Ganeti derives: v1 hot<kind>-<uuid8>-pci-<slot>, v2 <kind>-<uuid 3 groups>; none without hotplug. */
  deviceIds: "none" | "v1" | "v2";
  /** Whether disks can sit on scsi.0 (hvinfo bus "scsi.0"). */
  scsi: boolean;
  hotplug: HotplugMethod;
  /** The oldest python3 on such nodes (the node helper must run there). */
  python3: string;
  /** Keys the reader accepts in a runtime file's NIC dict. */
  nicKeys: readonly string[];
  /** Keys the reader accepts in a Disk dict (children too); null: the file has no disk list. */
  diskKeys: readonly string[] | null;
}

const NIC_2_0 = ["mac", "ip", "bridge"];
const NIC_2_1 = ["mac", "ip", "bridge", "nicparams"];
const NIC_2_4 = ["mac", "ip", "nicparams"];
const NIC_2_7 = ["mac", "ip", "network", "nicparams", "netinfo"];
const NIC_2_8 = ["name", "mac", "ip", "network", "nicparams", "netinfo", "uuid"];
const NIC_2_10 = ["name", "mac", "ip", "network", "nicparams", "netinfo", "pci", "uuid"];
const NIC_2_16 = ["name", "mac", "ip", "network", "nicparams", "netinfo", "pci", "hvinfo", "uuid"];
const DISK_2_10 = ["name", "dev_type", "logical_id", "children", "iv_name", "size", "mode", "params", "spindles", "pci", "uuid", "dynamic_params"];
const DISK_2_12 = [
  "name", "dev_type", "logical_id", "children", "iv_name", "size", "mode", "params", "spindles", "pci", "serial_no", "dynamic_params",
  "uuid", "ctime", "mtime",
];
const DISK_2_14 = [
  "forthcoming", "name", "dev_type", "logical_id", "children", "nodes", "iv_name", "size", "mode", "params", "spindles", "pci",
  "serial_no", "dynamic_params", "uuid", "ctime", "mtime",
];
const DISK_2_16 = [
  "forthcoming", "name", "dev_type", "logical_id", "children", "nodes", "iv_name", "size", "mode", "params", "spindles", "pci", "hvinfo",
  "serial_no", "dynamic_params", "uuid", "ctime", "mtime",
];

const NO_HOTPLUG = { pciReservation: { kind: "none" }, deviceIds: "none", scsi: false, hotplug: "none", python3: "3.5", diskKeys: null } as const;
const FOUR = { kind: "fixed", count: 4, why: "slots 0x00–0x03" } as const;
const THREE = { kind: "fixed", count: 3, why: "slots 0x00–0x02 (host bridge, ISA bridge, VGA)" } as const;
/** `kvm_pci_reservations` when the instance does not set it (2.16+: `qemuDefaultPciReservations`). */
export const DEFAULT_KVM_PCI_RESERVATIONS = 12;
const HVPARAM = { kind: "hvparam", default: DEFAULT_KVM_PCI_RESERVATIONS } as const;

/** Oldest first; each row runs until the next one's `from`. */
export const GANETI_RELEASES: readonly GanetiRelease[] = [
  { from: "2.0.0", label: "2.0", generation: "A", oldestReads: "A", ...NO_HOTPLUG, nicKeys: NIC_2_0 },
  { from: "2.1.0", label: "2.1 – 2.3", generation: "A", oldestReads: "A", ...NO_HOTPLUG, nicKeys: NIC_2_1 },
  { from: "2.4.0", label: "2.4 – 2.6", generation: "A", oldestReads: "A", ...NO_HOTPLUG, nicKeys: NIC_2_4 },
  { from: "2.7.0", label: "2.7", generation: "A", oldestReads: "A", ...NO_HOTPLUG, nicKeys: NIC_2_7 },
  { from: "2.8.0", label: "2.8 – 2.9", generation: "A", oldestReads: "A", ...NO_HOTPLUG, nicKeys: NIC_2_8 },
  { from: "2.10.0", label: "2.10.0 – 2.10.1", generation: "B", oldestReads: "A", pciReservation: FOUR, deviceIds: "v1", scsi: false, hotplug: "hmp", python3: "3.5", nicKeys: NIC_2_10, diskKeys: DISK_2_10 },
  { from: "2.10.2", label: "2.10.2 – 2.11", generation: "B", oldestReads: "A", pciReservation: THREE, deviceIds: "v1", scsi: false, hotplug: "hmp", python3: "3.5", nicKeys: NIC_2_10, diskKeys: DISK_2_10 },
  { from: "2.12.0", label: "2.12", generation: "B", oldestReads: "A", pciReservation: THREE, deviceIds: "v1", scsi: false, hotplug: "hmp", python3: "3.5", nicKeys: NIC_2_10, diskKeys: DISK_2_12 },
  { from: "2.13.0", label: "2.13", generation: "B", oldestReads: "A", pciReservation: THREE, deviceIds: "v1", scsi: false, hotplug: "qmp", python3: "3.5", nicKeys: NIC_2_10, diskKeys: DISK_2_12 },
  { from: "2.14.0", label: "2.14 – 2.16.0beta1", generation: "B", oldestReads: "A", pciReservation: THREE, deviceIds: "v1", scsi: false, hotplug: "qmp", python3: "3.5", nicKeys: NIC_2_10, diskKeys: DISK_2_14 },
  { from: "2.16.0beta2", label: "2.16", generation: "C", oldestReads: "A", pciReservation: HVPARAM, deviceIds: "v2", scsi: true, hotplug: "qmp-hmp-drive", python3: "3.5", nicKeys: NIC_2_16, diskKeys: DISK_2_16 },
  { from: "3.0.0", label: "3.0", generation: "C", oldestReads: "A", pciReservation: HVPARAM, deviceIds: "v2", scsi: true, hotplug: "qmp-hmp-drive", python3: "3.6", nicKeys: NIC_2_16, diskKeys: DISK_2_16 },
  { from: "3.1.0", label: "3.1 and later", generation: "C", oldestReads: "B", pciReservation: HVPARAM, deviceIds: "v2", scsi: true, hotplug: "qmp-blockdev", python3: "3.6", nicKeys: NIC_2_16, diskKeys: DISK_2_16 },
];

const FROM = GANETI_RELEASES.map((r) => requireGanetiVersion(r.from));

/** The table row of a version (a version older than 2.0 gets the 2.0 row: nothing older is known). */
export function ganetiRelease(version: GanetiVersion | string): GanetiRelease {
  const v = typeof version === "string" ? requireGanetiVersion(version) : version;
  let i = FROM.length - 1;
  while (i > 0 && compareGanetiVersions(v, FROM[i] as GanetiVersion) < 0) i--;
  return GANETI_RELEASES[i] as GanetiRelease;
}

/**
 * The oldest release whose files this app writes, per generation: a bare
 * generation target means "every reader of it from here on". Before 2.8,
 * NICs have no uuid, so nothing the app records could be found again.
 */
export const OLDEST_WRITTEN_FOR: Readonly<Record<RuntimeGeneration, string>> = { A: "2.8.0", B: "2.10.0", C: "2.16.0beta2" };

/** The oldest python3 any node in the table runs: what node_helper.py must run on. */
export const OLDEST_HELPER_PYTHON = GANETI_RELEASES.map((r) => r.python3).reduce((a, b) => (comparePython(a, b) <= 0 ? a : b));

function comparePython(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am - bm || an - bn;
}

/** The keys every one of `readers` accepts (rows' key sets only grow, but this does not rely on it). */
export function keysReadBy(readers: readonly GanetiVersion[]): { nic: Set<string>; disk: Set<string> | null } {
  if (readers.length === 0) throw new Error("keysReadBy needs at least one reader");
  let nic: Set<string> | undefined;
  let disk: Set<string> | null | undefined;
  for (const v of readers) {
    const r = ganetiRelease(v);
    nic = nic ? new Set([...nic].filter((k) => r.nicKeys.includes(k))) : new Set(r.nicKeys);
    const d = r.diskKeys;
    disk = disk === undefined ? (d ? new Set(d) : null) : disk && d ? new Set([...disk].filter((k) => d.includes(k))) : null;
  }
  return { nic: nic as Set<string>, disk: disk as Set<string> | null };
}
