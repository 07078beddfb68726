/**
 * Migration check: would a QEMU started from this runtime file (as Ganeti
 * starts a migration target) have the same devices at the same pci.0 slots
 * and SCSI targets as the running instance? If not, the migration fails
 * ("Unknown ramblock 0000:00:10.0/virtio-net-pci.rom", unknown savevm
 * section) or the target does not even start.
 *
 * Pure: the target's argv (from buildQemuArgv) is simulated the way QEMU
 * places devices: the machine's own devices first, then every -device in
 * command-line order (explicit addr= takes that slot, otherwise the lowest
 * slot whose function 0 is free), then `-drive if=virtio` disks.
 */
import { buildQemuArgv, type RuntimeLike } from "../qemu/command-line";
import type { LivePciDevice } from "../qmp/query-pci";
import type { LiveScsiTarget } from "../slots";
import { displayPciAddr } from "../slots";

export interface TargetPciDevice {
  /** qdev id; null for devices QEMU creates without one. */
  id: string | null;
  driver: string;
  slot: number;
  function: number;
  /** True when addr= fixed the slot; false when QEMU picks it. */
  pinned: boolean;
  origin: "machine" | "command-line";
}

export interface TargetScsiDevice {
  id: string | null;
  driver: string;
  scsiId: number;
}

export type MigrationProblemCode =
  | "live-only"
  | "target-only"
  | "slot-mismatch"
  | "model-mismatch"
  | "unnamed-mismatch"
  | "target-conflict"
  | "scsi-live-only"
  | "scsi-target-only"
  | "scsi-mismatch";

export interface MigrationProblem {
  code: MigrationProblemCode;
  id?: string;
  slot?: number;
  message: string;
}

export interface MigrationCheck {
  ok: boolean;
  problems: MigrationProblem[];
  /** Where the target would put each pci.0 device. */
  target: TargetPciDevice[];
  targetScsi: TargetScsiDevice[];
  /** What the check could not judge (unknown drivers, machine types). */
  notes: string[];
}

/** QEMU's short names for the virtio PCI transports on x86. */
const ALIASES: Record<string, string> = {
  "virtio-net": "virtio-net-pci",
  "virtio-blk": "virtio-blk-pci",
  "virtio-balloon": "virtio-balloon-pci",
  "virtio-scsi": "virtio-scsi-pci",
  "virtio-serial": "virtio-serial-pci",
  "virtio-rng": "virtio-rng-pci",
  lsi: "lsi53c895a",
};

/** PCI vendor:device of common drivers (transitional virtio ids on i440fx). */
const PCI_IDS: Record<string, [number, number]> = {
  "virtio-net-pci": [0x1af4, 0x1000],
  "virtio-blk-pci": [0x1af4, 0x1001],
  "virtio-balloon-pci": [0x1af4, 0x1002],
  "virtio-serial-pci": [0x1af4, 0x1003],
  "virtio-scsi-pci": [0x1af4, 0x1004],
  "virtio-rng-pci": [0x1af4, 0x1005],
  e1000: [0x8086, 0x100e],
  e1000e: [0x8086, 0x10d3],
  rtl8139: [0x10ec, 0x8139],
  ne2k_pci: [0x10ec, 0x8029],
  pcnet: [0x1022, 0x2000],
  i82551: [0x8086, 0x1209],
  i82559er: [0x8086, 0x1209],
  i82557b: [0x8086, 0x1229],
  lsi53c895a: [0x1000, 0x0012],
  lsi53c810: [0x1000, 0x0001],
  megasas: [0x1000, 0x0060],
  "megasas-gen2": [0x1000, 0x005b],
  VGA: [0x1234, 0x1111],
  "cirrus-vga": [0x1013, 0x00b8],
};

const VGA_DRIVERS = new Set(["VGA", "cirrus-vga", "qxl-vga", "virtio-vga", "vmware-svga", "secondary-vga", "bochs-display", "ati-vga"]);
const VGA_FOR_FLAG: Record<string, string> = { std: "VGA", cirrus: "cirrus-vga", qxl: "qxl-vga", virtio: "virtio-vga", vmware: "vmware-svga" };

/** Drivers known to sit on a PCI bus; anything ending in -pci is one too. */
const PCI_DRIVERS = new Set([
  ...Object.keys(PCI_IDS),
  ...VGA_DRIVERS,
  "qxl",
  "ich9-ahci",
  "piix3-usb-uhci",
  "piix4-usb-uhci",
  "pci-ohci",
  "nec-usb-xhci",
  "qemu-xhci",
  "usb-ehci",
  "ich9-usb-ehci1",
  "i6300esb",
  "intel-hda",
  "ich9-intel-hda",
  "ES1370",
  "AC97",
  "pci-bridge",
  "pvscsi",
  "am53c974",
  "dc390",
  "mptsas1068",
  "ivshmem-plain",
  "ivshmem-doorbell",
  "pvpanic-pci",
  "pci-testdev",
  "tulip",
  "vmxnet3",
  "e1000-82544gc",
  "e1000-82545em",
]);

function canonical(driver: string): string {
  return ALIASES[driver] ?? driver;
}

/** Split a QEMU option string at single commas (",," is a literal comma). */
export function splitQemuOpts(s: string): { first: string; opts: Map<string, string> } {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === ",") {
      if (s[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  const opts = new Map<string, string>();
  let first = "";
  parts.forEach((p, i) => {
    const eq = p.indexOf("=");
    if (eq < 0) {
      if (i === 0) first = p;
      else opts.set(p, "on");
    } else opts.set(p.slice(0, eq), p.slice(eq + 1));
  });
  return { first, opts };
}

/** "0x10", "10", "0x10.1", "1f.0" → slot and function; null when unreadable. */
export function parseAddr(addr: string): { slot: number; fn: number } | null {
  const m = /^(?:0x)?([0-9a-f]{1,2})(?:\.([0-7]))?$/i.exec(addr.trim());
  if (!m) return null;
  const slot = parseInt(m[1] as string, 16);
  return slot < 32 ? { slot, fn: m[2] ? parseInt(m[2], 10) : 0 } : null;
}

function argAfter(argv: readonly string[], flag: string): string | undefined {
  let v: string | undefined;
  for (let i = 0; i + 1 < argv.length; i++) if (argv[i] === flag) v = argv[i + 1];
  return v;
}

interface Wanted {
  id: string | null;
  driver: string;
  addr: { slot: number; fn: number } | null;
}

/** The devices a QEMU started with `argv` puts on pci.0 and scsi.0, with their slots. */
export function simulateTargetBus(argv: readonly string[]): { pci: TargetPciDevice[]; scsi: TargetScsiDevice[]; problems: MigrationProblem[]; notes: string[] } {
  const notes: string[] = [];
  const problems: MigrationProblem[] = [];
  const pci: TargetPciDevice[] = [];
  const scsi: TargetScsiDevice[] = [];
  const taken = new Map<string, TargetPciDevice>();
  const key = (slot: number, fn: number) => `${slot}.${fn}`;
  const place = (d: TargetPciDevice) => {
    pci.push(d);
    taken.set(key(d.slot, d.function), d);
  };

  const machineOpts = splitQemuOpts(argAfter(argv, "-machine") ?? argAfter(argv, "-M") ?? "");
  const machine = machineOpts.first || machineOpts.opts.get("type") || "pc";
  const q35 = /^(q35|pc-q35)/.test(machine);
  if (!/^(pc|pc-i440fx|q35|pc-q35)/.test(machine)) notes.push(`Machine type "${machine}" is not one this check models; its own devices were assumed to be those of "pc".`);
  place({ id: null, driver: q35 ? "q35-pcihost" : "i440FX", slot: 0, function: 0, pinned: true, origin: "machine" });
  if (q35) {
    place({ id: null, driver: "ICH9-LPC", slot: 0x1f, function: 0, pinned: true, origin: "machine" });
  } else {
    place({ id: null, driver: "PIIX3", slot: 1, function: 0, pinned: true, origin: "machine" });
  }

  const devices: Wanted[] = [];
  const virtioDrives: Wanted[] = [];
  const nodefaults = argv.includes("-nodefaults");
  const vgaFlag = argAfter(argv, "-vga");
  for (let i = 0; i + 1 < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1] as string;
    if (flag === "-device") {
      const { first, opts } = splitQemuOpts(value);
      const driver = canonical(opts.get("driver") ?? first);
      const bus = opts.get("bus");
      const id = opts.get("id") ?? null;
      if (bus !== undefined && /^scsi/.test(bus)) {
        const sid = Number(opts.get("scsi-id") ?? "0");
        scsi.push({ id, driver, scsiId: Number.isInteger(sid) ? sid : 0 });
        continue;
      }
      if (bus !== undefined && bus !== "pci.0" && bus !== "pcie.0") continue; // behind a bridge or on another bus: no pci.0 slot.
      const addrText = opts.get("addr");
      const addr = addrText === undefined ? null : parseAddr(addrText);
      if (addrText !== undefined && addr === null) {
        notes.push(`-device ${value}: addr "${addrText}" is not a PCI address this check reads; it was left out.`);
        continue;
      }
      if (addr === null && bus === undefined && !PCI_DRIVERS.has(driver) && !/-pci$/.test(driver)) {
        if (/^(scsi-|ide-|usb-|isa-|virtserialport|virtconsole|pvpanic$)/.test(driver)) continue;
        notes.push(`-device ${driver}${id ? ` (id ${id})` : ""}: not known to be a PCI device; not compared.`);
        continue;
      }
      devices.push({ id, driver, addr });
    } else if (flag === "-drive") {
      const { opts } = splitQemuOpts(value);
      if (opts.get("if") === "virtio") virtioDrives.push({ id: null, driver: "virtio-blk-pci", addr: null });
    } else if (flag === "-balloon" && value.startsWith("virtio")) {
      const { opts } = splitQemuOpts(value);
      const addrText = opts.get("addr");
      devices.push({ id: opts.get("id") ?? null, driver: "virtio-balloon-pci", addr: addrText ? parseAddr(addrText) : null });
    }
  }

  // Default VGA, created during machine init (before any -device), unless disabled or given explicitly.
  const explicitVga = devices.some((d) => VGA_DRIVERS.has(d.driver));
  if (!nodefaults && vgaFlag !== "none" && !explicitVga) {
    const driver = VGA_FOR_FLAG[vgaFlag ?? "std"] ?? "VGA";
    if (vgaFlag && !VGA_FOR_FLAG[vgaFlag]) notes.push(`-vga ${vgaFlag} is not modelled; assumed a VGA device.`);
    const slot = firstFree(taken, q35 ? 1 : 2);
    place({ id: null, driver, slot, function: 0, pinned: false, origin: "machine" });
  }

  for (const d of [...devices, ...virtioDrives]) {
    if (d.addr) {
      const other = taken.get(key(d.addr.slot, d.addr.fn));
      if (other) {
        problems.push({
          code: "target-conflict",
          ...(d.id ? { id: d.id } : {}),
          slot: d.addr.slot,
          message: `The target would not start: ${d.driver}${d.id ? ` '${d.id}'` : ""} asks for ${displayPciAddr(d.addr.slot)}, which ${other.driver}${other.id ? ` '${other.id}'` : ""} already holds there.`,
        });
        continue;
      }
      place({ id: d.id, driver: d.driver, slot: d.addr.slot, function: d.addr.fn, pinned: true, origin: "command-line" });
    } else {
      const slot = firstFree(taken, 0);
      if (slot < 0) {
        problems.push({ code: "target-conflict", ...(d.id ? { id: d.id } : {}), message: `The target would not start: no free slot on pci.0 for ${d.driver}${d.id ? ` '${d.id}'` : ""}.` });
        continue;
      }
      place({ id: d.id, driver: d.driver, slot, function: 0, pinned: false, origin: "command-line" });
    }
  }
  return { pci: pci.sort((a, b) => a.slot - b.slot || a.function - b.function), scsi, problems, notes };
}

function firstFree(taken: Map<string, unknown>, from: number): number {
  for (let s = from; s < 32; s++) if (!taken.has(`${s}.0`)) return s;
  return -1;
}

function modelMatches(driver: string, live: LivePciDevice): boolean | null {
  const ids = PCI_IDS[driver];
  if (!ids) return null;
  return ids[0] === live.vendorId && ids[1] === live.deviceId;
}

const hex4 = (n: number) => n.toString(16).padStart(4, "0");
const liveName = (d: LivePciDevice) => `${d.classDesc ?? "device"} ${hex4(d.vendorId)}:${hex4(d.deviceId)}`;

export interface MigrationCheckInput {
  /** The target's argv (buildQemuArgv of the runtime file). */
  argv: readonly string[];
  /** query-pci of the running instance, reduced to pci.0. */
  live: readonly LivePciDevice[];
  /** SCSI targets of the running instance; null/undefined when unknown (not compared). */
  liveScsi?: readonly LiveScsiTarget[] | null;
}

export function checkMigration(input: MigrationCheckInput): MigrationCheck {
  const sim = simulateTargetBus(input.argv);
  const problems = [...sim.problems];
  const notes = [...sim.notes];
  const liveById = new Map(input.live.filter((d) => d.qdevId !== "").map((d) => [`${d.qdevId}.${d.function}`, d]));
  const targetIds = new Set(sim.pci.filter((d) => d.id !== null).map((d) => d.id as string));

  for (const t of sim.pci) {
    if (t.id === null) continue;
    const l = liveById.get(`${t.id}.${t.function}`);
    if (!l) {
      problems.push({
        code: "target-only",
        id: t.id,
        slot: t.slot,
        message: `The target would start ${t.driver} '${t.id}' at ${displayPciAddr(t.slot)}, but the running instance has no device '${t.id}': the runtime file lists a device that is not live.`,
      });
      continue;
    }
    if (l.slot !== t.slot) {
      problems.push({
        code: "slot-mismatch",
        id: t.id,
        slot: l.slot,
        message: `'${t.id}' runs at ${displayPciAddr(l.slot)}, but the target would put it at ${displayPciAddr(t.slot)}${t.pinned ? " (the runtime file says so)" : " (QEMU's own placement)"}.`,
      });
    }
    if (modelMatches(t.driver, l) === false) {
      problems.push({ code: "model-mismatch", id: t.id, slot: l.slot, message: `'${t.id}' is a ${liveName(l)} live, but the target would start it as ${t.driver}.` });
    }
  }
  for (const l of input.live) {
    if (l.qdevId === "" || targetIds.has(l.qdevId)) continue;
    if (l.function !== 0 && input.live.some((o) => o.slot === l.slot && o.function === 0 && o.qdevId === l.qdevId)) continue;
    problems.push({
      code: "live-only",
      id: l.qdevId,
      slot: l.slot,
      message: `'${l.qdevId}' (${liveName(l)}) runs at ${displayPciAddr(l.slot)}, but the target built from the runtime file would not have it: the file does not record it.`,
    });
  }

  // Devices without an id (QEMU's own, kvm_cmd extras): compare by slot and model.
  const unnamedTarget = new Map(sim.pci.filter((d) => d.id === null && d.function === 0).map((d) => [d.slot, d]));
  const unnamedLive = new Map(input.live.filter((d) => d.qdevId === "" && d.function === 0).map((d) => [d.slot, d]));
  for (const [slot, l] of unnamedLive) {
    const t = unnamedTarget.get(slot);
    if (!t) {
      problems.push({ code: "unnamed-mismatch", slot, message: `A device without id (${liveName(l)}) runs at ${displayPciAddr(slot)}; the target would have no such device there.` });
    } else if (modelMatches(t.driver, l) === false) {
      problems.push({ code: "unnamed-mismatch", slot, message: `At ${displayPciAddr(slot)} the instance runs ${liveName(l)}, but the target would create ${t.driver} there.` });
    }
  }
  for (const [slot, t] of unnamedTarget) {
    if (!unnamedLive.has(slot)) {
      problems.push({ code: "unnamed-mismatch", slot, message: `The target would create ${t.driver} (no id) at ${displayPciAddr(slot)}, where the running instance has ${input.live.some((d) => d.slot === slot) ? "another device" : "nothing"}.` });
    }
  }

  if (input.liveScsi === undefined || input.liveScsi === null) {
    if (sim.scsi.length) notes.push("The live SCSI targets are unknown: SCSI disks were not compared.");
  } else {
    const liveScsi = new Map(input.liveScsi.map((t) => [t.qdevId, t]));
    const targetScsi = new Set(sim.scsi.map((t) => t.id).filter((x): x is string => x !== null));
    for (const t of sim.scsi) {
      if (t.id === null) continue;
      const l = liveScsi.get(t.id);
      if (!l) problems.push({ code: "scsi-target-only", id: t.id, message: `The target would attach ${t.driver} '${t.id}' at SCSI target ${t.scsiId}, but the running instance has no such disk.` });
      else if (l.scsiId !== t.scsiId) problems.push({ code: "scsi-mismatch", id: t.id, message: `'${t.id}' is at SCSI target ${l.scsiId} live, but the target would attach it at ${t.scsiId}.` });
    }
    for (const l of input.liveScsi) {
      if (!targetScsi.has(l.qdevId)) {
        problems.push({ code: "scsi-live-only", id: l.qdevId, message: `SCSI disk '${l.qdevId}' (target ${l.scsiId}) is attached live, but the runtime file does not record it: the target would lack it.` });
      }
    }
  }
  return { ok: problems.length === 0, problems, target: sim.pci, targetScsi: sim.scsi, notes };
}

/** The argv Ganeti would run for a migration target of this runtime (sockets and backends are placeholders). */
export function targetArgvFor(runtime: RuntimeLike): string[] {
  return buildQemuArgv(runtime, {
    qmpSocket: "/target.qmp",
    kvmdSocket: "/target.kvmd",
    incoming: "defer",
    netdev: () => ({ type: "tap", options: "fd=3" }),
  });
}

/** Compare a runtime file (read and upgraded) with the live buses of the instance it describes. */
export function checkRuntimeAgainstLive(runtime: RuntimeLike, live: readonly LivePciDevice[], liveScsi?: readonly LiveScsiTarget[] | null): MigrationCheck {
  return checkMigration({ argv: targetArgvFor(runtime), live, liveScsi: liveScsi ?? null });
}
