/**
 * writeRuntime: the bytes Ganeti of the target generation would accept, as
 * close to what it writes as possible, byte-identical for unchanged content.
 *
 * Rules (see the README-style notes in index.ts):
 * - Unchanged parts are written exactly as they were read (key order,
 *   floats, Python-2 hash order...): each device/hvparams/kvm_cmd is merged
 *   onto the raw value it came from (`origin.text`).
 * - kvm_cmd and hvparams: the in-memory upgrade rewrites (balloon, rtc, vnc
 *   TLS, disk_discard, -chroot) are NOT persisted. Every Ganeti reader
 *   re-applies the rewrites it knows on load, and persisting a 3.1-only
 *   rewrite (dropping -chroot) would break a 3.0 node reading the same
 *   generation-C file. A kvm_cmd the caller changed is written as given;
 *   for hvparams only the keys the caller changed take the new value.
 * - Devices take the target generation's form: C → hvinfo (a B `pci`
 *   becomes hvinfo in its place, as Ganeti 2.16+ would write it); B → `pci`
 *   (only PCI slots, only old-style ids, refusals otherwise); A → no slot
 *   at all, no disk list.
 * - NIC and Disk dicts (a disk's children too) carry only the keys every
 *   reader accepts (shared/ganeti/versions.ts): a reader rejects a key it
 *   does not know, and the Disk keys grew inside generation B, so a Ganeti
 *   3.0 disk (`forthcoming`, `nodes`) written for a 2.13 reader loses them.
 *   With no readers named, every reader of the generation is targeted, and
 *   a device keeps the keys its source file of the same generation had.
 * - No app marker is written (no extra hvparams key): Ganeti merges runtime
 *   hvparams into the instance's (FillDict) and we could not verify that no
 *   version rejects an unknown key, so we do not add one.
 */
import { OLDEST_WRITTEN_FOR, ganetiRelease, keysReadBy, parseGanetiVersion, type GanetiVersion } from "../ganeti/versions";
import { PyDict, dumpGanetiJson, fromPlain, mergeOntoRaw, plainEqual, type PyValue } from "../pyjson";
import { deviceIdV1, driverForHvparams, isValidQemuId, type DeviceKind } from "./device-id";
import { RuntimeWriteError, type WriteRefusal } from "./errors";
import { compareGenerations, type Generation, type WriteTarget } from "./generation";
import { parseRawRuntime, readRuntime, type RawRuntime } from "./read";
import {
  DISK_SLOTS,
  NIC_SLOTS,
  PCI_BUS,
  RuntimeSchema,
  SCSI_BUS,
  type Disk,
  type Hvinfo,
  type Nic,
  type Runtime,
} from "./schema";

const placeBySlots =
  (slots: readonly string[]) =>
  (existing: string[], key: string): number => {
    const rank = slots.indexOf(key);
    if (rank < 0) return existing.length;
    const at = existing.findIndex((k) => slots.indexOf(k) > rank);
    return at < 0 ? existing.length : at;
  };
const PLACE_NIC = placeBySlots(NIC_SLOTS);
const PLACE_DISK = placeBySlots(DISK_SLOTS);
const RENAMES = { pci: "hvinfo", hvinfo: "pci" };

function isEmptyHvinfo(h: Hvinfo | undefined): boolean {
  return h === undefined || Object.keys(h).length === 0;
}

function label(kind: DeviceKind, index: number, dev: Nic | Disk): string {
  return typeof dev.hvinfo?.id === "string" ? `${kind} ${dev.hvinfo.id}` : `${kind}s[${index}]${dev.uuid ? ` (${dev.uuid})` : ""}`;
}

/** The device dict a reader of `target` accepts, as plain data. */
function deviceForTarget<T extends Nic | Disk>(
  dev: T,
  kind: DeviceKind,
  index: number,
  target: Generation,
  hvparams: Runtime["hvparams"],
  refuse: (r: WriteRefusal) => void,
): T {
  const name = label(kind, index, dev);
  const h = dev.hvinfo;
  if (target === "C") {
    if (h && !isEmptyHvinfo(h) && typeof h.id === "string" && !isValidQemuId(h.id)) {
      refuse({ device: name, reason: `hvinfo.id ${JSON.stringify(h.id)} is not a valid QEMU id (letter first, at most 32 of [A-Za-z0-9._-])` });
    }
    return dev;
  }
  const { hvinfo: _drop, ...rest } = dev;
  if (target === "A") {
    if (!isEmptyHvinfo(h) || dev.pci !== undefined) {
      refuse({
        device: name,
        reason: `generation A (Ganeti ≤ 2.9) cannot record PCI slots or device ids at all: a 2.9 node would start this ${kind} at another address, so a hot-plugged device cannot be written`,
      });
    }
    return rest as T;
  }
  // target B
  if (h !== undefined && Object.keys(h).length === 0 && dev.pci !== undefined) {
    refuse({
      device: name,
      reason: `pci ${dev.pci} with an empty hvinfo: Ganeti 2.16+ ignores pci next to hvinfo and reads the ${kind} as not placed, Ganeti 2.10–2.15 would read it at slot ${dev.pci}; generation B cannot say which`,
    });
  }
  if (isEmptyHvinfo(h)) return rest as T;
  const hv = h as Hvinfo;
  if (hv.bus !== PCI_BUS) {
    refuse({
      device: name,
      reason: `${kind} ${hv.id ?? ""} is on ${hv.bus ?? "no bus"}; generation B (Ganeti 2.10–2.15) can only record PCI slots`.replace(/ {2}/, " "),
    });
    return rest as T;
  }
  if (typeof hv.addr !== "string") {
    refuse({ device: name, reason: "no slot (hvinfo.addr) recorded; generation B needs the PCI slot" });
    return rest as T;
  }
  const slot = parseInt(hv.addr, 16);
  if (!dev.uuid) {
    refuse({ device: name, reason: "no uuid: Ganeti 2.10–2.15 derives the device id from the uuid and cannot address this device" });
    return rest as T;
  }
  const v1 = deviceIdV1(kind, dev.uuid, slot);
  if (hv.id !== v1) {
    refuse({
      device: name,
      reason: `live id ${JSON.stringify(hv.id)} is not the old-style id ${v1}; Ganeti 2.10–2.15 regenerates ids as hot${kind}-<uuid8>-pci-<slot>, so it would look for ${v1} (hot-remove fails, a migration target gets a different id)`,
    });
  }
  const driver = driverForHvparams(kind, hvparams);
  if (hv.driver !== driver) {
    refuse({
      device: name,
      reason: `driver ${JSON.stringify(hv.driver)} differs from ${JSON.stringify(driver ?? null)}, the one Ganeti 2.10–2.15 derives from hvparams.${kind}_type; generation B cannot record a device model`,
    });
  }
  const extra = Object.keys(hv).filter((k) => !["driver", "id", "bus", "addr"].includes(k));
  if (extra.length) refuse({ device: name, reason: `hvinfo keys ${extra.join(", ")} cannot be expressed in generation B` });
  if (dev.pci !== undefined && dev.pci !== slot) refuse({ device: name, reason: `pci ${dev.pci} and hvinfo.addr ${hv.addr} disagree` });
  // pci takes hvinfo's place (both sit next to each other in the slot order).
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(dev)) {
    if (k === "hvinfo") out.pci = slot;
    else if (k !== "pci") out[k] = (dev as Record<string, unknown>)[k];
  }
  return out as T;
}

function checkCollisions(rt: Runtime, refuse: (r: WriteRefusal) => void): void {
  const pci = new Map<number, string>();
  const scsi = new Map<number, string>();
  const ids = new Map<string, string>();
  const devs: [DeviceKind, number, Nic | Disk][] = [
    ...rt.nics.map((n, i): [DeviceKind, number, Nic | Disk] => ["nic", i, n]),
    ...rt.disks.map((e, i): [DeviceKind, number, Nic | Disk] => ["disk", i, e.disk]),
  ];
  for (const [kind, i, d] of devs) {
    const name = label(kind, i, d);
    const h = d.hvinfo;
    const slot = h?.bus === PCI_BUS && typeof h.addr === "string" ? parseInt(h.addr, 16) : d.pci;
    if (slot !== undefined && (h === undefined || isEmptyHvinfo(h) || h.bus === PCI_BUS)) {
      const other = pci.get(slot);
      if (other) refuse({ device: name, reason: `PCI slot 0x${slot.toString(16)} is also used by ${other}` });
      else pci.set(slot, name);
    }
    if (h?.bus === SCSI_BUS && typeof h["scsi-id"] === "number") {
      const other = scsi.get(h["scsi-id"]);
      if (other) refuse({ device: name, reason: `SCSI target ${h["scsi-id"]} is also used by ${other}` });
      else scsi.set(h["scsi-id"], name);
    }
    if (typeof h?.id === "string") {
      const other = ids.get(h.id);
      if (other) refuse({ device: name, reason: `device id ${h.id} is also used by ${other}` });
      else ids.set(h.id, name);
    }
  }
}

interface Origin {
  raw: RawRuntime;
  upgraded: Runtime;
  generation: Generation;
}

function loadOrigin(rt: Runtime): Origin | null {
  if (!rt.origin) return null;
  const doc = readRuntime(rt.origin.text);
  return { raw: parseRawRuntime(rt.origin.text), upgraded: doc.runtime, generation: doc.generation };
}

/** The NIC and Disk keys the target's readers accept; `lenient`: also those a same-generation source already had. */
interface ReaderKeys {
  nic: Set<string>;
  disk: Set<string> | null;
  lenient: boolean;
}

function readerKeys(target: WriteTarget, origin: Origin | null, refuse: (r: WriteRefusal) => void): ReaderKeys {
  const gen = target.generation;
  if (target.readers === undefined) {
    const keys = keysReadBy([parseGanetiVersion(OLDEST_WRITTEN_FOR[gen]) as GanetiVersion]);
    return { ...keys, lenient: origin?.generation === gen };
  }
  const readers: GanetiVersion[] = [];
  for (const text of target.readers) {
    const v = parseGanetiVersion(text);
    if (!v) {
      refuse({ reason: `reader version ${JSON.stringify(text)} is not a Ganeti version (expected e.g. "2.15.2" or "3.0.2")` });
      continue;
    }
    const reads = ganetiRelease(v).generation;
    if (compareGenerations(reads, gen) < 0) refuse({ reason: `Ganeti ${text} reads generation ${reads} files only, so it cannot read this generation ${gen} file` });
    readers.push(v);
  }
  if (readers.length === 0) return { ...keysReadBy([parseGanetiVersion(OLDEST_WRITTEN_FOR[gen]) as GanetiVersion]), lenient: false };
  return { ...keysReadBy(readers), lenient: false };
}

/** `dev` with only the keys in `allowed` (or in `kept`, what its source had); a disk's children likewise. */
function restrictKeys<T extends Record<string, unknown>>(dev: T, allowed: Set<string>, kept: Set<string>, childKeys: Set<string> | null, childKept: Set<string>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(dev)) {
    if (!allowed.has(k) && !kept.has(k)) continue;
    out[k] = k === "children" && childKeys && Array.isArray(v) ? v.map((c) => (isRecord(c) ? restrictKeys(c, childKeys, childKept, childKeys, childKept) : c)) : v;
  }
  return out as T;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Every key of the dicts in a raw `children` list (the source's disk children). */
function childKeysOf(tpl: PyDict | undefined): Set<string> {
  const out = new Set<string>();
  const children = tpl?.get("children");
  if (Array.isArray(children)) for (const c of children) if (c instanceof PyDict) for (const k of c.keys()) out.add(k);
  return out;
}

/**
 * Pair model devices with raw ones: the k-th device with a uuid with the k-th
 * raw one of that uuid (a file may list a uuid twice), the k-th uuid-less
 * with the k-th uuid-less.
 */
function matchTemplates<M>(model: M[], rawList: PyDict[], uuidOf: (m: M) => string | undefined): (PyDict | undefined)[] {
  const byUuid = new Map<string, PyDict[]>();
  const noUuid: PyDict[] = [];
  for (const r of rawList) {
    const u = r.get("uuid");
    if (typeof u === "string") byUuid.set(u, [...(byUuid.get(u) ?? []), r]);
    else noUuid.push(r);
  }
  let k = 0;
  return model.map((m) => {
    const u = uuidOf(m);
    if (u !== undefined) return byUuid.get(u)?.shift();
    return noUuid[k++];
  });
}

/**
 * Serialize `runtime` for readers of generation `target` (and, when named,
 * exactly those Ganeti versions), as Ganeti's serializer would lay it out
 * (one line, Python json, "\n"). Throws RuntimeWriteError listing every
 * reason when the target cannot express the runtime.
 */
export function writeRuntime(runtime: Runtime, to: Generation | WriteTarget): string {
  const target = typeof to === "string" ? to : to.generation;
  const parsed = RuntimeSchema.safeParse(runtime);
  if (!parsed.success) {
    throw new RuntimeWriteError(parsed.error.issues.map((i) => ({ reason: `${i.path.join(".")}: ${i.message}` })));
  }
  const rt = runtime;
  const reasons: WriteRefusal[] = [];
  const refuse = (r: WriteRefusal): void => {
    reasons.push(r);
  };
  const origin = loadOrigin(rt);
  const keys = readerKeys(typeof to === "string" ? { generation: to } : to, origin, refuse);
  const none = new Set<string>();

  // kvm_cmd: the source's, unless the caller changed it.
  let kvmCmd: PyValue;
  if (origin && plainEqual(rt.kvmCmd, origin.upgraded.kvmCmd)) kvmCmd = origin.raw.kvmCmd;
  else kvmCmd = fromPlain(rt.kvmCmd);

  // hvparams: the source's, with only the keys the caller changed.
  let hvparams: PyValue;
  if (origin) {
    const before = origin.upgraded.hvparams;
    const merged = new PyDict();
    for (const [k, v] of origin.raw.hvparams.entries()) {
      if (!Object.prototype.hasOwnProperty.call(rt.hvparams, k) || rt.hvparams[k] === undefined) continue; // removed by the caller
      merged.set(k, plainEqual(rt.hvparams[k], before[k]) ? v : mergeOntoRaw(v, rt.hvparams[k]));
    }
    for (const k of Object.keys(rt.hvparams)) {
      if (!merged.has(k) && rt.hvparams[k] !== undefined) merged.set(k, fromPlain(rt.hvparams[k]));
    }
    hvparams = merged;
  } else {
    hvparams = fromPlain(rt.hvparams);
  }

  checkCollisions(rt, refuse);

  const nicTemplates = matchTemplates(rt.nics, origin?.raw.nics ?? [], (n) => n.uuid);
  const nics = rt.nics.map((nic, i) => {
    const tpl = nicTemplates[i];
    const kept = keys.lenient && tpl ? new Set(tpl.keys()) : none;
    const desired = restrictKeys(deviceForTarget(nic, "nic", i, target, rt.hvparams, refuse), keys.nic, kept, null, none);
    return tpl ? mergeOntoRaw(tpl, desired, { renames: RENAMES, placeNewKey: PLACE_NIC }) : fromPlain(desired);
  });

  let disks: PyValue[] | null = null;
  if (target === "A") {
    rt.disks.forEach((e, i) =>
      refuse({
        device: label("disk", i, e.disk),
        reason: "generation A (Ganeti ≤ 2.9) has no disk list: its disks live in kvm_cmd, so a disk entry cannot be written",
      }),
    );
  } else {
    const rawDisks = (origin?.raw.disks ?? []).filter((e): e is [PyDict, PyValue, PyValue] => e[0] instanceof PyDict);
    const diskTemplates = matchTemplates(rt.disks, rawDisks.map((e) => e[0]), (e) => e.disk.uuid);
    const diskKeys = keys.disk ?? new Set<string>();
    disks = rt.disks.map((e, i) => {
      const tpl = diskTemplates[i];
      const lenient = keys.lenient && tpl !== undefined;
      const desired = restrictKeys(
        deviceForTarget(e.disk, "disk", i, target, rt.hvparams, refuse),
        diskKeys,
        lenient ? new Set(tpl.keys()) : none,
        diskKeys,
        lenient ? childKeysOf(tpl) : none,
      );
      const tplEntry = tpl ? rawDisks.find((r) => r[0] === tpl) : undefined;
      const disk = tpl ? mergeOntoRaw(tpl, desired, { renames: RENAMES, placeNewKey: PLACE_DISK }) : fromPlain(desired);
      return [
        disk,
        tplEntry ? mergeOntoRaw(tplEntry[1], e.linkName) : e.linkName,
        tplEntry ? mergeOntoRaw(tplEntry[2], e.uri) : e.uri,
      ];
    });
  }

  if (reasons.length) throw new RuntimeWriteError(reasons);
  const top: PyValue[] = disks === null ? [kvmCmd, nics, hvparams] : [kvmCmd, nics, hvparams, disks];
  return dumpGanetiJson(top);
}
