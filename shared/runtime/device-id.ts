/**
 * QEMU device ids as Ganeti builds them (research/ganeti-kvm.md §4).
 * Ganeti never parses ids; it finds runtime entries by uuid.
 */
import type { DiskEntry, HvParams, Nic, Runtime } from "./schema";

export type DeviceKind = "nic" | "disk";

/** Python `s.rsplit("-", 2)[0]`. */
function rsplit2Head(s: string): string {
  const last = s.lastIndexOf("-");
  if (last < 0) return s;
  const prev = s.lastIndexOf("-", last - 1);
  return prev < 0 ? s.slice(0, last) : s.slice(0, prev);
}

/** 2.16+: `"nic-" + uuid.rsplit("-", 2)[0]`, e.g. `nic-003fc157-66a8-4e6d`. */
export function deviceIdV2(kind: DeviceKind, uuid: string): string {
  return `${kind}-${rsplit2Head(uuid)}`;
}

/** 2.10–2.15: `"hotnic-" + uuid.split("-")[0] + "-pci-" + slot`, e.g. `hotnic-003fc157-pci-5`. */
export function deviceIdV1(kind: DeviceKind, uuid: string, pci: number): string {
  return `hot${kind}-${uuid.split("-")[0]}-pci-${pci}`;
}

/** QEMU id rules: a letter first, then [A-Za-z0-9._-], at most 32 characters. */
export function isValidQemuId(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._-]{0,31}$/.test(id);
}

export type ParsedDeviceId =
  | { style: "v1"; kind: DeviceKind; uuidPrefix: string; pci: number }
  | { style: "v2"; kind: DeviceKind; uuidPrefix: string };

/** Recognise Ganeti's two id styles; `null` for anything else. */
export function parseDeviceId(id: string): ParsedDeviceId | null {
  const v1 = /^hot(nic|disk)-([^-]+)-pci-(\d{1,2})$/.exec(id);
  if (v1) return { style: "v1", kind: v1[1] as DeviceKind, uuidPrefix: v1[2] as string, pci: Number(v1[3]) };
  const v2 = /^(nic|disk)-(.+)$/.exec(id);
  if (v2) return { style: "v2", kind: v2[1] as DeviceKind, uuidPrefix: v2[2] as string };
  return null;
}

/** `_DEVICE_DRIVER[kind](_DEVICE_TYPE[kind](hvparams))`, or undefined without the hvparam. */
export function driverForHvparams(kind: DeviceKind, hvparams: HvParams): string | undefined {
  const t = hvparams[kind === "nic" ? "nic_type" : "disk_type"];
  if (typeof t !== "string") return undefined;
  if (t === "paravirtual") return kind === "nic" ? "virtio-net-pci" : "virtio-blk-pci";
  return t;
}

export type DeviceRef =
  | { kind: "nic"; index: number; nic: Nic }
  | { kind: "disk"; index: number; entry: DiskEntry };

export function findDeviceByUuid(runtime: Pick<Runtime, "nics" | "disks">, uuid: string): DeviceRef | undefined {
  const n = runtime.nics.findIndex((x) => x.uuid === uuid);
  const nic = runtime.nics[n];
  if (nic) return { kind: "nic", index: n, nic };
  const d = runtime.disks.findIndex((x) => x.disk.uuid === uuid);
  const entry = runtime.disks[d];
  if (entry) return { kind: "disk", index: d, entry };
  return undefined;
}

/** Find by the live QEMU id recorded in `hvinfo.id`. */
export function findDeviceById(runtime: Pick<Runtime, "nics" | "disks">, id: string): DeviceRef | undefined {
  const n = runtime.nics.findIndex((x) => x.hvinfo?.id === id);
  const nic = runtime.nics[n];
  if (nic) return { kind: "nic", index: n, nic };
  const d = runtime.disks.findIndex((x) => x.disk.hvinfo?.id === id);
  const entry = runtime.disks[d];
  if (entry) return { kind: "disk", index: d, entry };
  return undefined;
}

/**
 * Whether Ganeti (and this app) can hot-remove the device: it needs a
 * stable uuid and a recorded slot. A NIC without uuid would get a new
 * random uuid from Ganeti on every load, so it can never be matched.
 */
export function hotRemoveBlocker(ref: DeviceRef): string | null {
  const dev = ref.kind === "nic" ? ref.nic : ref.entry.disk;
  const label = `${ref.kind}s[${ref.index}]`;
  if (!dev.uuid) return `${label} has no uuid: Ganeti invents a random one on every load, so it can never be matched for removal`;
  if (!dev.hvinfo || Object.keys(dev.hvinfo).length === 0) {
    return `${label} has no recorded slot (it was placed by QEMU, e.g. started by Ganeti ≤ 2.9): hot-removal is not supported`;
  }
  return null;
}
