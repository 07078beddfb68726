/**
 * Helpers to create runtimes and devices the way Ganeti 3.x would (slot
 * order, hvinfo key order driver, id, bus, addr | channel, scsi-id, lun).
 * For a runtime that will be written to generation B, pass idStyle "v1":
 * the device id is then the old `hot<kind>-<uuid8>-pci-<slot>`, the one a
 * 2.10–2.15 node derives, and the id the lab must run the device with.
 */
import { deviceIdV1, deviceIdV2 } from "./device-id";
import { PCI_BUS, PCI_SLOTS, SCSI_BUS, SCSI_SLOTS, type DiskEntry, type HvParams, type KvmCmd, type Nic, type Runtime } from "./schema";

export type IdStyle = "v1" | "v2";

function checkSlot(slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot >= PCI_SLOTS) throw new RangeError(`PCI slot must be an integer 0-31, got ${slot}`);
}

export interface NewNicOptions {
  uuid: string;
  mac: string;
  link: string;
  mode?: string;
  vlan?: string;
  slot: number;
  driver?: string;
  idStyle?: IdStyle;
  name?: string;
  ip?: string;
  network?: string;
}

export function newNic(o: NewNicOptions): Nic {
  checkSlot(o.slot);
  const nic: Nic = {};
  if (o.name !== undefined) nic.name = o.name;
  nic.mac = o.mac;
  if (o.ip !== undefined) nic.ip = o.ip;
  if (o.network !== undefined) nic.network = o.network;
  nic.nicparams = { mode: o.mode ?? "bridged", link: o.link, vlan: o.vlan ?? "" };
  nic.hvinfo = {
    driver: o.driver ?? "virtio-net-pci",
    id: o.idStyle === "v1" ? deviceIdV1("nic", o.uuid, o.slot) : deviceIdV2("nic", o.uuid),
    bus: PCI_BUS,
    addr: `0x${o.slot.toString(16)}`,
  };
  nic.uuid = o.uuid;
  return nic;
}

export interface NewDiskOptions {
  uuid: string;
  /** MiB */
  size: number;
  linkName: string;
  uri?: string | null;
  /** PCI slot (virtio-blk); give either slot or scsiId. */
  slot?: number;
  /** SCSI target 0-15 on scsi.0. */
  scsiId?: number;
  driver?: string;
  idStyle?: IdStyle;
  name?: string;
  devType?: string;
  logicalId?: unknown[];
  ivName?: string;
  mode?: string;
  params?: Record<string, unknown>;
}

export function newDisk(o: NewDiskOptions): DiskEntry {
  if ((o.slot === undefined) === (o.scsiId === undefined)) throw new RangeError("newDisk needs exactly one of slot (PCI) or scsiId (SCSI)");
  let hvinfo: Record<string, string | number>;
  if (o.slot !== undefined) {
    checkSlot(o.slot);
    hvinfo = {
      driver: o.driver ?? "virtio-blk-pci",
      id: o.idStyle === "v1" ? deviceIdV1("disk", o.uuid, o.slot) : deviceIdV2("disk", o.uuid),
      bus: PCI_BUS,
      addr: `0x${o.slot.toString(16)}`,
    };
  } else {
    const t = o.scsiId as number;
    if (!Number.isInteger(t) || t < 0 || t >= SCSI_SLOTS) throw new RangeError(`SCSI target must be an integer 0-15, got ${t}`);
    if (o.idStyle === "v1") throw new RangeError("old-style (v1) ids exist only for PCI devices");
    hvinfo = { driver: o.driver ?? "scsi-hd", id: deviceIdV2("disk", o.uuid), bus: SCSI_BUS, channel: 0, "scsi-id": t, lun: 0 };
  }
  // Built key by key in Disk slot order (uuid comes after hvinfo).
  const disk: Record<string, unknown> = {};
  if (o.name !== undefined) disk.name = o.name;
  disk.dev_type = o.devType ?? "plain";
  disk.logical_id = o.logicalId ?? ["xenvg", `${o.uuid}.disk`];
  disk.iv_name = o.ivName ?? "disk/0";
  disk.size = o.size;
  disk.mode = o.mode ?? "rw";
  disk.params = o.params ?? (disk.dev_type === "plain" ? { stripes: 1 } : {});
  disk.hvinfo = hvinfo;
  disk.uuid = o.uuid;
  return { disk: disk as DiskEntry["disk"], linkName: o.linkName, uri: o.uri ?? null };
}

export function emptyRuntime(kvmCmd: KvmCmd, hvparams: HvParams): Runtime {
  return { kvmCmd: [...kvmCmd], nics: [], hvparams: { ...hvparams }, disks: [] };
}
