/**
 * planHotplug: instance state + intent → the exact steps the executor will
 * run and the exact runtime-file bytes it will write, or the reasons it
 * must not. Pure: no I/O, no clock, no randomness.
 *
 * Ground rules (research/ganeti-kvm.md §4–§6, DESIGN.md):
 * - Nothing is done live that cannot be recorded: the runtime-file write is
 *   computed first, for the oldest generation every reader accepts, and a
 *   write refusal refuses the whole plan.
 * - Slots: never where the reservation, the runtime file or the live bus
 *   says taken (Ganeti itself looks only at the file; the live bus catches
 *   the devices it forgot, issue #1620).
 * - Removal uses the id the device runs with (hvinfo.id), not the id
 *   Ganeti 2.16+ would regenerate (§4 bug note), and is recorded only after
 *   DEVICE_DELETED.
 */
import { parsePyJson, toPlain } from "../pyjson";
import type { LivePciDevice } from "../qmp/query-pci";
import {
  RuntimeWriteError,
  deviceIdV1,
  deviceIdV2,
  findDeviceById,
  findDeviceByUuid,
  hotRemoveBlocker,
  isPciHvinfo,
  isScsiHvinfo,
  hvinfoSlot,
  newDisk,
  newNic,
  parseDeviceId,
  writeRuntime,
  writeTargetFor,
  GENERATION_LABEL,
  type DeviceKind,
  type DeviceRef,
  type Generation,
  type Runtime,
  type WriteTarget,
} from "../runtime";
import { GanetiVersionError, oldestGanetiVersion } from "../ganeti/versions";
import type { Reader } from "../ganeti/readers";
import {
  checkPciSlot,
  checkScsiId,
  displayPciAddr,
  firstFreePciSlot,
  firstFreeScsiId,
  scsiTargetLimit,
  formatPciAddr,
  guestPciAddress,
  pciReservations,
  type FilePciSlot,
  type FileScsiTarget,
  type PciBusInput,
  type ScsiBusInput,
} from "../slots";
import { describeRuntimeChange } from "./diff";
import {
  HOTPLUGGABLE_DISK_TYPES,
  HOTPLUGGABLE_NIC_TYPES,
  parseIntent,
  type AddDiskIntent,
  type AddNicIntent,
  type GanetiDiskIntent,
  type GanetiNicIntent,
  type HotplugIntent,
  type ModifyNicIntent,
  type RemoveIntent,
} from "./intent";
import { activateDisksArgv, argvText, diskAddArgv, diskRemoveArgv, nicAddArgv, nicModifyArgv, nicRemoveArgv } from "../ganeti/config-change";
import type { ForgetIntent, RecordNicIntent, ReplugIntent, UnplugIntent } from "./intent";
import type { Recording } from "./recording";
import type { InstanceSnapshot, QemuVersion } from "./instance-snapshot";
import type { DiskPathVerdict } from "../on-node/disk-paths";
import { FDSET_PLACEHOLDER, type PlannedSlot, type PlanStep, type PlanStepOf, type QmpStep } from "./steps";

export type RefusalCode =
  | "invalid-intent"
  | "no-readers"
  | "bad-version"
  | "no-hotplug"
  | "bad-hvparam"
  | "instance-not-running"
  | "qemu-too-old"
  | "qmp-command-missing"
  | "device-type-not-hotpluggable"
  | "unknown-ref"
  | "wrong-kind"
  | "not-removable"
  | "not-on-live-bus"
  | "slot-unavailable"
  | "no-free-slot"
  | "duplicate-uuid"
  | "id-in-use"
  | "scsi-controller"
  | "disk-path"
  | "write-refused";

export interface Refusal {
  code: RefusalCode;
  message: string;
}

export interface PlanOk {
  ok: true;
  steps: PlanStep[];
  runtimeAfter: Runtime;
  writeGeneration: Generation;
  /** Exactly the bytes the write-runtime step writes. */
  fileTextAfter: string;
  /** What changes in the file, for people. */
  fileDiff: string[];
  /** Where the added device goes (for a remove: where it was). */
  slot: PlannedSlot;
  warnings: string[];
  /** The nodes the runtime file is written for, with their versions and why each counts. */
  readers: Reader[];
  /**
   * Who writes the runtime file: the plan's own write-runtime step (app,
   * the default), Ganeti's own hotplug (ganeti: the plan has no write), or
   * nobody (unchanged: a change of Ganeti's configuration only).
   */
  runtimeWrite?: RuntimeWrite;
  /** Whether Ganeti's configuration keeps the change, and why (set by the change path, not the planner). */
  recording?: Recording;
}

export type RuntimeWrite = "app" | "ganeti" | "unchanged";

export interface PlanRefused {
  ok: false;
  refusals: Refusal[];
}

export type Plan = PlanOk | PlanRefused;

/** How long the executor waits for the guest to release a device. */
export const DEVICE_DELETED_TIMEOUT_MS = 10_000;

const MIN_QEMU: QemuVersion = { major: 1, minor: 7, micro: 0 };
/** The flat blockdev-add form (node-name + nested file) needs QEMU 2.9+. */
const MIN_QEMU_BLOCKDEV: QemuVersion = { major: 2, minor: 9, micro: 0 };
const SCSI_CONTROLLER_ID = "scsi";

function qemuLess(a: QemuVersion, b: QemuVersion): boolean {
  return (a.major - b.major || a.minor - b.minor || a.micro - b.micro) < 0;
}
const showQemu = (v: QemuVersion): string => `${v.major}.${v.minor}.${v.micro}`;

class Refused extends Error {
  constructor(readonly refusals: Refusal[]) {
    super(refusals.map((r) => r.message).join("; "));
  }
}

function refuse(code: RefusalCode, message: string): never {
  throw new Refused([{ code, message }]);
}

/** Everything derived once from the state, shared by all intents. */
interface Ctx {
  state: InstanceSnapshot;
  hv: Record<string, unknown>;
  gen: Generation;
  /** The generation and the readers the runtime file is written for. */
  target: Required<WriteTarget>;
  oldestVersion: string;
  reservedCount: number;
  warnings: string[];
  /** Working copy of the runtime; becomes runtimeAfter. */
  rt: Runtime;
  /** Set when kvm_cmd was rebuilt from the file's own (un-upgraded) kvm_cmd. */
  rawKvmCmd?: (string | number)[];
}

function deepCopy<T>(v: T): T {
  // structuredClone keeps what JSON would lose: bigints (a crash), NaN and Infinity (written back as null).
  return structuredClone(v);
}

function oldestVersion(versions: string[]): string {
  try {
    return (oldestGanetiVersion(versions) as { text: string }).text;
  } catch (e) {
    if (!(e instanceof GanetiVersionError)) throw e;
    refuse("bad-version", `Reader version "${e.text}" is not a Ganeti version (expected e.g. "2.15.2" or "3.0.2"): fix the node list for this instance.`);
  }
}

function makeCtx(state: InstanceSnapshot): Ctx {
  const versions = state.readers.ganetiVersions;
  if (versions.length === 0) {
    refuse("no-readers", `No Ganeti versions given for ${state.name}: list this node's version and those of every node it may migrate to, so the runtime file is written in a format they all read.`);
  }
  const oldest = oldestVersion(versions);
  let target: Required<WriteTarget>;
  try {
    target = writeTargetFor(versions, state.readers.floor);
  } catch (e) {
    refuse("bad-version", `${(e as Error).message}: fix the node versions for ${state.name}.`);
  }
  const gen = target.generation;
  const warnings: string[] = [];
  const hv = effectiveHvparams(state, warnings);
  const rawRes = hv.kvm_pci_reservations;
  const res = pciReservations(oldest, typeof rawRes === "number" ? rawRes : null);
  if (!res.ok) refuse(res.code === "bad-hvparam" ? "bad-hvparam" : res.code === "no-hotplug" ? "no-hotplug" : "bad-version", `${state.name}: ${res.message}`);
  if (gen === "A") {
    refuse(
      "no-hotplug",
      `${state.name}: the runtime file must stay readable by Ganeti ≤ 2.9 (generation A), which records no PCI slots, so a hotplugged device could not be recorded. Raise the floor or upgrade those nodes to 2.10+.`,
    );
  }
  return { state, hv, gen, target, oldestVersion: oldest, reservedCount: res.count, warnings, rt: deepCopy(state.runtime.runtime) };
}

/** hvparams that decide how a device is hotplugged, as the runtime file and Ganeti's configuration may disagree on them. */
const SHAPING_HVPARAMS = ["kvm_pci_reservations", "nic_type", "disk_type", "scsi_controller_type"] as const;

/**
 * The runtime file's hvparams (what Ganeti's hotplug reads), with the keys
 * it lacks filled from Ganeti's configuration (as Ganeti fills them when it
 * starts the instance). A disagreement is said: the configuration takes
 * effect only at the next shutdown/startup.
 */
function effectiveHvparams(state: InstanceSnapshot, warnings: string[]): Record<string, unknown> {
  const file = state.runtime.runtime.hvparams;
  const conf = state.clusterHvparams;
  if (!conf) return file;
  for (const k of SHAPING_HVPARAMS) {
    if (file[k] === undefined || conf[k] === undefined || file[k] === conf[k]) continue;
    warnings.push(
      `Ganeti's configuration has ${k}=${String(conf[k])}, but ${state.name} runs with ${k}=${String(file[k])} (its runtime file): this plan follows the runtime file, as Ganeti's own hotplug does; the configuration applies at the next shutdown/startup.`,
    );
  }
  return { ...conf, ...file };
}

/** The readers as the review names them: the explained ones, or the bare versions. */
function readersOf(state: InstanceSnapshot): Reader[] {
  const r = state.readers;
  if (r.explained && r.explained.length > 0) return r.explained;
  return r.ganetiVersions.map((v, i) => ({
    node: i === 0 ? "this node" : `reader ${i + 1}`,
    version: v,
    versionSource: "typed" as const,
    versionFrom: "given with the request",
    why: i === 0 ? "runs the instance" : "may receive a migration (given with the request)",
  }));
}

// ---------------------------------------------------------------- checks

function requireRunning(ctx: Ctx, what: string): LivePciDevice[] {
  const live = ctx.state.livePci;
  if (live === null) {
    refuse(
      "instance-not-running",
      `${ctx.state.name} is not running (or its QMP socket could not be read), so ${what} cannot be hotplugged: start the instance, or wait until the socket is free, then plan again.`,
    );
  }
  return live;
}

function checkQemu(ctx: Ctx, needBlockdev: boolean): void {
  const v = ctx.state.qemuVersion;
  if (v === null) {
    ctx.warnings.push("QEMU version unknown (no QMP greeting seen): assuming it is 1.7 or later.");
    return;
  }
  if (qemuLess(v, MIN_QEMU)) {
    refuse("qemu-too-old", `QEMU ${showQemu(v)} on ${ctx.state.name} is older than 1.7: Ganeti refuses hotplug there ("Hotplug not supported for qemu versions < 1.7"). Upgrade QEMU and restart or migrate the instance.`);
  }
  if (needBlockdev && qemuLess(v, MIN_QEMU_BLOCKDEV)) {
    refuse("qemu-too-old", `QEMU ${showQemu(v)} on ${ctx.state.name} predates the blockdev-add form this app sends (2.9+): add the disk with "gnt-instance modify --disk add:… --hotplug", or upgrade QEMU.`);
  }
}

function checkCommands(ctx: Ctx, needed: string[], why: string): void {
  const have = ctx.state.qmpCommands;
  if (have === null) {
    ctx.warnings.push(`QMP command list unknown: assuming ${needed.join(", ")} are available.`);
    return;
  }
  const missing = needed.filter((c) => !have.includes(c));
  if (missing.length) {
    refuse(
      "qmp-command-missing",
      `QEMU on ${ctx.state.name} lacks QMP ${missing.join(", ")}, needed ${why}: Ganeti refuses too. Upgrade QEMU and restart or migrate the instance.`,
    );
  }
}

function checkHotpluggable(ctx: Ctx, kind: DeviceKind, extraType?: string): void {
  const key = kind === "nic" ? "nic_type" : "disk_type";
  const allowed = kind === "nic" ? HOTPLUGGABLE_NIC_TYPES : HOTPLUGGABLE_DISK_TYPES;
  const t = ctx.hv[key];
  if (typeof t !== "string") {
    ctx.warnings.push(`hvparams.${key} is not in the runtime file: Ganeti's check that the ${kind} type is hotpluggable cannot be applied.`);
  } else if (!allowed.includes(t)) {
    refuse(
      "device-type-not-hotpluggable",
      `${ctx.state.name} has ${key}=${t}, which Ganeti cannot hotplug ("Hotplug is not supported for device type ${t}"); hotpluggable: ${allowed.join(", ")}. Change ${key} and restart the instance, or make this change with the instance stopped.`,
    );
  }
  if (extraType !== undefined && !allowed.includes(extraType)) {
    refuse("device-type-not-hotpluggable", `NIC model ${extraType} cannot be hotplugged (an ISA card has no PCI slot); pick one of ${allowed.join(", ")}.`);
  }
}

/** QEMU opens the tap / file itself only as root outside a chroot; otherwise fds are passed. */
function needsFdPassing(ctx: Ctx): { pass: boolean; why: string } {
  const chroot = ctx.hv.use_chroot === true;
  const model = typeof ctx.hv.security_model === "string" ? ctx.hv.security_model : "none";
  if (chroot) return { pass: true, why: "QEMU runs chrooted (use_chroot), so it cannot open node paths" };
  if (model !== "none") {
    return { pass: true, why: `QEMU runs as an unprivileged user (security_model=${model}${model === "pool" ? ", uid pool" : ""}), so it cannot open the device itself` };
  }
  return { pass: false, why: "" };
}

// ----------------------------------------------------------- bus inputs

function fileSlots(rt: Runtime, skipId?: string): FilePciSlot[] {
  const out: FilePciSlot[] = [];
  rt.nics.forEach((n, i) => {
    if (isPciHvinfo(n.hvinfo)) {
      if (n.hvinfo.id !== skipId) out.push({ slot: hvinfoSlot(n.hvinfo), deviceId: n.hvinfo.id });
    } else if (typeof n.pci === "number") out.push({ slot: n.pci, deviceId: `nics[${i}]` });
  });
  rt.disks.forEach((e, i) => {
    const h = e.disk.hvinfo;
    if (isPciHvinfo(h)) {
      if (h.id !== skipId) out.push({ slot: hvinfoSlot(h), deviceId: h.id });
    } else if (typeof e.disk.pci === "number") out.push({ slot: e.disk.pci, deviceId: `disks[${i}]` });
  });
  return out;
}

function pciInput(ctx: Ctx, live: LivePciDevice[], skipId?: string): PciBusInput {
  return {
    reservedCount: ctx.reservedCount,
    fileSlots: fileSlots(ctx.state.runtime.runtime, skipId),
    liveSlots: live.filter((d) => skipId === undefined || d.qdevId !== skipId),
    pending: ctx.state.pending ?? [],
  };
}

function scsiInput(ctx: Ctx): ScsiBusInput {
  const fileTargets: FileScsiTarget[] = [];
  for (const e of ctx.state.runtime.runtime.disks) {
    if (isScsiHvinfo(e.disk.hvinfo)) fileTargets.push({ scsiId: e.disk.hvinfo["scsi-id"], deviceId: e.disk.hvinfo.id });
  }
  return { fileTargets, liveTargets: ctx.state.liveScsi ?? null };
}

function choosePciSlot(ctx: Ctx, live: LivePciDevice[], label: string, wanted: number | undefined, skipId?: string, sameSlot = false): number {
  const input = pciInput(ctx, live, skipId);
  if (wanted !== undefined) {
    const r = checkPciSlot(input, wanted, { bus: "pci", label });
    if (r.ok) return wanted;
    // Hot-modify puts the NIC back where it was, even below today's reservation.
    const blocking = sameSlot ? r.reasons.filter((x) => x.code !== "reserved-by-qemu" || wanted < 2) : r.reasons;
    if (blocking.length === 0) {
      ctx.warnings.push(`${label} goes back to ${displayPciAddr(wanted)}, which the oldest reader (Ganeti ${ctx.oldestVersion}) reserves today; it stays there as before.`);
      return wanted;
    }
    refuse("slot-unavailable", `${label} cannot go to slot ${displayPciAddr(wanted)}: ${blocking.map((x) => x.message).join(" ")}`);
  }
  const r = firstFreePciSlot(input, { bus: "pci", label });
  if (!r.ok) refuse("no-free-slot", `${label} on ${ctx.state.name}: ${r.message}`);
  return r.slot;
}

/** The controller scsi.0 hangs off: the instance's scsi_controller_type, Ganeti's default lsi otherwise. */
function scsiControllerType(ctx: Ctx): string {
  return typeof ctx.hv.scsi_controller_type === "string" && ctx.hv.scsi_controller_type ? ctx.hv.scsi_controller_type : "lsi";
}

function chooseScsiId(ctx: Ctx, label: string, wanted: number | undefined): number {
  const input = scsiInput(ctx);
  const limit = scsiTargetLimit(scsiControllerType(ctx));
  if (wanted !== undefined && wanted >= limit.count && limit.note) {
    refuse("slot-unavailable", `${label} cannot go to SCSI target ${wanted}: ${limit.note}. Pick a target from 0 to ${limit.count - 1}.`);
  }
  if (input.liveTargets === null) {
    ctx.warnings.push(`The live SCSI targets of ${ctx.state.name} are unknown: the target was checked against the runtime file only.`);
  }
  if (wanted !== undefined) {
    const r = checkScsiId(input, wanted, limit.count, { bus: "scsi", label });
    if (!r.ok) refuse("slot-unavailable", `${label} cannot go to SCSI target ${wanted}: ${r.reasons.map((x) => x.message).join(" ")}`);
    return wanted;
  }
  const r = firstFreeScsiId(input, limit.count, { bus: "scsi", label });
  if (!r.ok) refuse("no-free-slot", `${label} on ${ctx.state.name}: ${r.message}`);
  return r.scsiId;
}

function checkNewIdentity(ctx: Ctx, live: LivePciDevice[], kind: DeviceKind, uuid: string, id: string): void {
  const rt = ctx.state.runtime.runtime;
  const other = findDeviceByUuid(rt, uuid);
  if (other) {
    refuse("duplicate-uuid", `uuid ${uuid} already belongs to ${other.kind}s[${other.index}] in ${ctx.state.name}'s runtime file: give the new ${kind} its own uuid (the one Ganeti's config has for it).`);
  }
  const byId = findDeviceById(rt, id);
  const liveDev = live.find((d) => d.qdevId === id);
  if (byId || liveDev) {
    refuse(
      "id-in-use",
      `Device id ${id} (from uuid ${uuid}) is already ${liveDev ? `on the live bus at ${displayPciAddr(liveDev.slot)}` : `recorded for ${byId?.kind}s[${byId?.index}]`}: two devices whose uuids share their first groups cannot coexist; use another uuid.`,
    );
  }
}

// --------------------------------------------------------------- helpers

const nicDriver = (model: string): string => (model === "paravirtual" ? "virtio-net-pci" : model);

function defaultTap(uuid: string): string {
  // Linux interface names hold 15 characters; 3 + 8 fits and is unique per uuid prefix.
  return `tap${uuid.slice(0, 8)}`;
}

function deviceId(ctx: Ctx, kind: DeviceKind, uuid: string, pciSlot: number | undefined): string {
  // Generation B readers (2.10–2.15) derive hot<kind>-<uuid8>-pci-<slot>; C readers take hvinfo.id as is.
  return ctx.gen === "B" && pciSlot !== undefined ? deviceIdV1(kind, uuid, pciSlot) : deviceIdV2(kind, uuid);
}

function qmp(command: string, args: Record<string, unknown>, describe: string, undo?: { command: string; arguments: Record<string, unknown> }): QmpStep {
  const s: QmpStep = { kind: "qmp", command, arguments: args, describe };
  if (undo) s.undo = undo;
  return s;
}

function pciPlace(slot: number): PlannedSlot {
  return { bus: "pci", slot, guestAddress: guestPciAddress(slot) };
}
function scsiPlace(scsiId: number): PlannedSlot {
  return { bus: "scsi", scsiId, guestAddress: `scsi.0 channel 0, target ${scsiId}, lun 0` };
}

// ------------------------------------------------------------- NIC add

interface NicSpec {
  uuid: string;
  mac: string;
  link: string;
  mode: "bridged" | "openvswitch" | "routed";
  vlan: string;
  driver: string;
  tap: string;
  slot: number;
  id: string;
  seq: number;
}

function nicAddSteps(ctx: Ctx, n: NicSpec): PlanStep[] {
  const steps: PlanStep[] = [];
  // Taps always travel as fds (as Ganeti 2.13+ does), even where QEMU could
  // open them by name: then QEMU holds the only fd and the tap disappears
  // with the instance, instead of lingering on the node after a stop.
  const unprivileged = needsFdPassing(ctx);
  const why = unprivileged.pass ? unprivileged.why : "as Ganeti does, so the tap lives and dies with QEMU";
  const vhost = ctx.hv.vhost_net === true;
  checkCommands(ctx, ["getfd", "netdev_add", "device_add"], `to hot-add NIC ${n.id}`);
  if (ctx.hv.use_chroot === true) {
    ctx.warnings.push(
      `QEMU runs chrooted: if ${n.driver}'s option ROM is not inside the chroot, device_add fails with "failed to find romfile". Ganeti 3.0.2 sends romfile="" then (PR #1644); this plan does not, because a migration target started from the runtime file would still load the ROM and its layout would differ.`,
    );
  }
  const q = typeof ctx.hv.virtio_net_queues === "number" ? ctx.hv.virtio_net_queues : 1;
  if (q > 1 && n.driver === "virtio-net-pci") {
    ctx.warnings.push(`virtio_net_queues=${q}: the hot-added NIC gets a single queue; Ganeti would start it multiqueue after a restart.`);
  }
  steps.push({
    kind: "node-tap-create",
    tap: n.tap,
    link: n.link,
    mode: n.mode,
    vlan: n.vlan,
    describe: `On the node: create tap ${n.tap}${n.mode === "routed" ? " (routed" + (n.link ? `, table ${n.link}` : "") + ")" : ` and attach it to ${n.mode === "openvswitch" ? "OVS switch" : "bridge"} ${n.link}`}${n.vlan ? ` (vlan ${n.vlan})` : ""}.`,
  });
  const undoNetdev = { command: "netdev_del", arguments: { id: n.id } };
  const device = qmp(
    "device_add",
    { driver: n.driver, id: n.id, bus: "pci.0", addr: formatPciAddr(n.slot), netdev: n.id, mac: n.mac },
    `Add ${n.driver} ${n.id} at ${displayPciAddr(n.slot)} with MAC ${n.mac}.`,
    { command: "device_del", arguments: { id: n.id } },
  );
  const fdnames = [`${n.id}-0`, ...(vhost ? [`${n.id}-vhost-0`] : [])];
  const args: Record<string, unknown> = { type: "tap", id: n.id, fd: fdnames[0] };
  if (vhost) Object.assign(args, { vhost: true, vhostfd: fdnames[1] });
  steps.push({
    kind: "node-pass-fd",
    mechanism: "getfd",
    socket: "qmp",
    source: { type: "tap", tap: n.tap, vhost },
    fdnames,
    commands: [qmp("netdev_add", args, `Create netdev ${n.id} from the passed tap fd.`, undoNetdev), device],
    describe: `On the node (${why}): open tap ${n.tap}${vhost ? " and /dev/vhost-net" : ""}, pass the fd${vhost ? "s" : ""} to QEMU over ${ctx.state.name}.qmp (getfd ${fdnames.join(", ")}), then in the same QMP session create the netdev and the NIC.`,
  });
  // Ganeti's order (HotAddDevice): the NIC, then its nic file, then the check.
  steps.push({
    kind: "node-nic-file",
    action: "write",
    instance: ctx.state.name,
    seq: n.seq,
    tap: n.tap,
    describe: `On the node: record tap ${n.tap} in nic/${ctx.state.name}/${n.seq} (Ganeti's bookkeeping).`,
  });
  steps.push({ kind: "verify", expect: "present", id: n.id, bus: "pci", slot: n.slot, describe: `Check query-pci shows ${n.id} at ${displayPciAddr(n.slot)}.` });
  return steps;
}

function planAddNic(ctx: Ctx, intent: AddNicIntent): { steps: PlanStep[]; place: PlannedSlot } {
  const live = requireRunning(ctx, `NIC ${intent.uuid}`);
  checkQemu(ctx, false);
  checkHotpluggable(ctx, "nic", intent.model);
  const model = intent.model ?? (typeof ctx.hv.nic_type === "string" ? ctx.hv.nic_type : "paravirtual");
  const label = `NIC ${deviceIdV2("nic", intent.uuid)}`;
  const slot = choosePciSlot(ctx, live, label, intent.slot);
  const id = deviceId(ctx, "nic", intent.uuid, slot);
  checkNewIdentity(ctx, live, "nic", intent.uuid, id);
  if (ctx.rt.nics.some((n) => n.mac === intent.mac)) ctx.warnings.push(`MAC ${intent.mac} is already used by another NIC of ${ctx.state.name}.`);
  const spec: NicSpec = {
    uuid: intent.uuid,
    mac: intent.mac,
    link: intent.link ?? "",
    mode: intent.mode ?? "bridged",
    vlan: intent.vlan ?? "",
    driver: nicDriver(model),
    tap: intent.tap ?? defaultTap(intent.uuid),
    slot,
    id,
    seq: ctx.rt.nics.length,
  };
  ctx.rt.nics.push(
    newNic({ uuid: spec.uuid, mac: spec.mac, link: spec.link, mode: spec.mode, vlan: spec.vlan, slot, driver: spec.driver, idStyle: ctx.gen === "B" ? "v1" : "v2" }),
  );
  return { steps: nicAddSteps(ctx, spec), place: pciPlace(slot) };
}

// ------------------------------------------------------------ disk add

function scsiControllerSteps(ctx: Ctx, live: LivePciDevice[]): PlanStep[] {
  const kvmCmd = ctx.state.runtime.runtime.kvmCmd;
  const inCmd = kvmCmd.some((a, i) => kvmCmd[i - 1] === "-device" && typeof a === "string" && /(^|,)id=scsi(,|$)/.test(a));
  const onBus = live.find((d) => d.qdevId === SCSI_CONTROLLER_ID);
  if (onBus && inCmd) return [];
  if (onBus && !inCmd) {
    refuse(
      "scsi-controller",
      `The live bus of ${ctx.state.name} has a SCSI controller 'scsi' at ${displayPciAddr(onBus.slot)} that the runtime file's kvm_cmd does not start: a migration target would lack it. Remove it (device_del scsi) or restart the instance with a SCSI disk_type, then plan again.`,
    );
  }
  if (!onBus && inCmd) {
    refuse(
      "scsi-controller",
      `The runtime file of ${ctx.state.name} starts a SCSI controller 'scsi', but the live bus has none: the file and the instance disagree. Restart the instance (gnt-instance reboot) before adding SCSI disks.`,
    );
  }
  // A controller hot-added now must also be started by whoever restarts or
  // receives the instance, so it is recorded in kvm_cmd at a fixed low slot
  // (below the reservation, where Ganeti never places disks or NICs).
  const driver = scsiControllerType(ctx);
  const input = pciInput(ctx, live);
  const taken = new Set([...live.map((d) => d.slot), ...input.fileSlots.map((f) => f.slot), ...(input.pending ?? [])]);
  let slot = -1;
  for (let s = 2; s < Math.min(ctx.reservedCount, 32); s++) {
    if (!taken.has(s)) {
      slot = s;
      break;
    }
  }
  if (slot < 0) {
    refuse(
      "scsi-controller",
      `${ctx.state.name} has no SCSI controller and no free slot below the reservation (0x02–${displayPciAddr(Math.max(2, Math.min(ctx.reservedCount, 32)) - 1)}) to add one where Ganeti will not place devices: add the disk on PCI (virtio-blk) instead, or set a SCSI disk_type and restart the instance.`,
    );
  }
  const addr = formatPciAddr(slot);
  // Append to the original kvm_cmd (not the upgraded one) so the in-memory
  // upgrade rewrites stay unpersisted, as writeRuntime intends.
  const raw = parsePyJson(ctx.state.runtime.sourceText);
  const rawCmd = Array.isArray(raw) ? (toPlain(raw[0] as never) as (string | number)[]) : [...kvmCmd];
  ctx.rawKvmCmd = rawCmd;
  ctx.rt.kvmCmd = [...rawCmd, "-device", `${driver},id=${SCSI_CONTROLLER_ID},bus=pci.0,addr=${addr}`];
  ctx.warnings.push(`${ctx.state.name} has no SCSI controller: the plan adds ${driver} 'scsi' at ${displayPciAddr(slot)} and records it in kvm_cmd so restarts and migration targets have it too.`);
  return [
    qmp("device_add", { driver, id: SCSI_CONTROLLER_ID, bus: "pci.0", addr }, `Add SCSI controller ${driver} 'scsi' at ${displayPciAddr(slot)} (its bus is scsi.0).`, {
      command: "device_del",
      arguments: { id: SCSI_CONTROLLER_ID },
    }),
  ];
}

/** The node's verdict on a disk path: refused unless accepted (undefined when the caller judges none). */
function diskPathVerdict(ctx: Ctx, path: string): Extract<DiskPathVerdict, { ok: true }> | undefined {
  const judged = ctx.state.diskPaths;
  if (!judged) return undefined;
  const v = judged[path];
  if (!v) refuse("disk-path", `The disk path ${path} was not checked on the node, so it is not used. This is a bug in the caller; try again.`);
  if (!v.ok) refuse("disk-path", v.message);
  return v;
}

function planAddDisk(ctx: Ctx, intent: AddDiskIntent): { steps: PlanStep[]; place: PlannedSlot } {
  const live = requireRunning(ctx, `disk ${intent.uuid}`);
  checkQemu(ctx, true);
  checkHotpluggable(ctx, "disk");
  const label = `disk ${deviceIdV2("disk", intent.uuid)}`;
  const fd = needsFdPassing(ctx);
  checkCommands(ctx, fd.pass ? ["add-fd", "remove-fd", "blockdev-add", "device_add"] : ["blockdev-add", "device_add"], `to hot-add ${label}${fd.pass ? ` (${fd.why}: its file descriptor must be passed with add-fd)` : ""}`);
  const steps: PlanStep[] = [];
  let place: PlannedSlot;
  let device: QmpStep;
  let id: string;
  const rec = intent.recordedAs;
  // A disk Ganeti has just recorded: its link does not exist before its job, and Ganeti's configuration vouches for it.
  const judged = rec ? undefined : diskPathVerdict(ctx, intent.path);
  // What the node says the path is; without a verdict: /dev/shm is a tmpfs of regular files, not devices.
  const kind = rec ? "file" : (intent.pathKind ?? judged?.kind ?? (intent.path.startsWith("/dev/") && !intent.path.startsWith("/dev/shm/") ? "block" : "file"));
  const index = rec ? rec.index : ctx.rt.disks.length;
  const common = {
    uuid: intent.uuid,
    size: intent.sizeMiB ?? 0,
    linkName: intent.path,
    uri: null,
    ivName: `disk/${index}`,
    // As Ganeti writes the entry of a disk it knows: its template, and its storage with the default file driver.
    devType: rec ? rec.devType : kind === "block" ? "blockdev" : "file",
    logicalId: rec ? ["loop", rec.storagePath] : kind === "block" ? ["manual", intent.path] : ["loop", intent.path],
  };
  if (intent.sizeMiB === undefined) ctx.warnings.push(`No size given for ${label}: the runtime file records size 0.`);
  if (intent.bus === "pci") {
    const slot = choosePciSlot(ctx, live, label, intent.slot);
    id = deviceId(ctx, "disk", intent.uuid, slot);
    checkNewIdentity(ctx, live, "disk", intent.uuid, id);
    ctx.rt.disks.push(newDisk({ ...common, slot, driver: "virtio-blk-pci", idStyle: ctx.gen === "B" ? "v1" : "v2" }));
    device = qmp("device_add", { driver: "virtio-blk-pci", id, bus: "pci.0", addr: formatPciAddr(slot), drive: id }, `Add virtio-blk-pci ${id} at ${displayPciAddr(slot)}.`, {
      command: "device_del",
      arguments: { id },
    });
    place = pciPlace(slot);
  } else {
    // Checked before the controller: generation B cannot record any SCSI disk, so that is the reason to give.
    if (ctx.gen !== "C") throw new Refused(refusalsFromWrite(ctx, new RuntimeWriteError([{ device: label, reason: "a SCSI disk sits on scsi.0; generation B (Ganeti 2.10–2.15) can only record PCI slots" }])));
    const scsiId = chooseScsiId(ctx, label, intent.scsiId);
    id = deviceIdV2("disk", intent.uuid);
    checkNewIdentity(ctx, live, "disk", intent.uuid, id);
    steps.push(...scsiControllerSteps(ctx, live));
    ctx.rt.disks.push(newDisk({ ...common, scsiId, driver: "scsi-hd" }));
    device = qmp(
      "device_add",
      { driver: "scsi-hd", id, bus: "scsi.0", channel: 0, "scsi-id": scsiId, lun: 0, drive: id },
      `Add scsi-hd ${id} at SCSI target ${scsiId} (channel 0, lun 0).`,
      { command: "device_del", arguments: { id } },
    );
    place = scsiPlace(scsiId);
  }
  const fileDriver = kind === "block" ? "host_device" : "file";
  const blockdev = (filename: string): QmpStep =>
    qmp("blockdev-add", { driver: "raw", "node-name": id, file: { driver: fileDriver, filename } }, `Open ${intent.path} as block node ${id} (raw over ${fileDriver}).`, {
      command: "blockdev-del",
      arguments: { "node-name": id },
    });
  if (fd.pass) {
    steps.push({
      kind: "node-pass-fd",
      mechanism: "add-fd",
      socket: "qmp",
      source: { type: "path", path: intent.path },
      fdnames: [],
      commands: [
        blockdev(`/dev/fdset/${FDSET_PLACEHOLDER}`),
        device,
        qmp("remove-fd", { "fdset-id": FDSET_PLACEHOLDER }, "Drop the fd set; the block node keeps its own reference."),
      ],
      describe: `On the node (${fd.why}): open ${intent.path} read-write as root, pass it to QEMU with add-fd, then in the same QMP session add the block node and the disk.`,
    });
  } else {
    steps.push(blockdev(intent.path), device);
  }
  steps.push(
    place.bus === "pci"
      ? { kind: "verify", expect: "present", id, bus: "pci", slot: place.slot as number, describe: `Check query-pci shows ${id} at ${displayPciAddr(place.slot as number)}.` }
      : { kind: "verify", expect: "present", id, bus: "scsi", scsiId: place.scsiId as number, describe: `Check ${id} is attached at SCSI target ${place.scsiId}.` },
  );
  if (!rec && (kind === "block" || !intent.path.startsWith("/var/run/ganeti/instance-disks/"))) {
    ctx.warnings.push(`${intent.path} is not a disk in Ganeti's config: it must exist at the same path on every node ${ctx.state.name} may migrate to.`);
  }
  return { steps, place };
}

// --------------------------------------------------------------- remove

function resolveRef(ctx: Ctx, kind: DeviceKind, ref: string): DeviceRef {
  const rt = ctx.state.runtime.runtime;
  const found = findDeviceByUuid(rt, ref) ?? findDeviceById(rt, ref);
  if (!found) {
    const parsed = parseDeviceId(ref);
    const hint = parsed && parsed.style === "v2" && ctx.state.runtime.generation === "B" ? " (this file comes from Ganeti 2.10–2.15: its devices run with ids like hotnic-xxxxxxxx-pci-N)" : "";
    refuse("unknown-ref", `No ${kind} with uuid or id "${ref}" in ${ctx.state.name}'s runtime file${hint}: pick one of the devices the file lists.`);
  }
  if (found.kind !== kind) {
    refuse("wrong-kind", `"${ref}" is a ${found.kind} (${found.kind}s[${found.index}]) in ${ctx.state.name}'s runtime file, not a ${kind}: ask for the ${found.kind}.`);
  }
  return found;
}

interface Removal {
  ref: DeviceRef;
  id: string;
  place: PlannedSlot;
  steps: PlanStep[];
}

/** What plugs a released NIC back where it was (its leftover netdev and tap cleared first), for the undo of its unplug. */
function restoreSteps(ctx: Ctx, ref: Extract<DeviceRef, { kind: "nic" }>, id: string, slot: number): NonNullable<PlanStepOf<"wait-device-deleted">["restore"]> {
  const nic = ref.nic;
  const np = nic.nicparams ?? {};
  if (!nic.uuid || !nic.mac) return [];
  const tap = ctx.state.nicTaps?.[ref.index] ?? defaultTap(nic.uuid);
  const warnings = ctx.warnings.length;
  const [create, pass] = nicAddSteps(ctx, {
    uuid: nic.uuid,
    mac: nic.mac,
    link: np.link ?? "",
    mode: MODES.find((m) => m === np.mode) ?? "bridged",
    vlan: np.vlan ?? "",
    driver: nic.hvinfo?.driver ?? nicDriver(typeof ctx.hv.nic_type === "string" ? ctx.hv.nic_type : "paravirtual"),
    tap,
    slot,
    id,
    seq: ref.index,
  });
  // Its warnings are the add's own, said once there.
  ctx.warnings.length = warnings;
  if (create?.kind !== "node-tap-create" || pass?.kind !== "node-pass-fd") return [];
  const leftover = qmp("netdev_del", { id }, `Delete netdev ${id} if it is still there.`);
  leftover.tolerateMissing = true;
  return [leftover, { kind: "node-tap-remove", tap, seq: ref.index, describe: `On the node: delete tap ${tap} if it is still there.` }, create, pass];
}

function removalSteps(ctx: Ctx, live: LivePciDevice[], ref: DeviceRef, restore = false): Removal {
  const dev = ref.kind === "nic" ? ref.nic : ref.entry.disk;
  const where = `${ref.kind}s[${ref.index}]${dev.uuid ? ` (${dev.uuid})` : ""}`;
  const blocker = hotRemoveBlocker(ref);
  if (blocker) {
    refuse(
      "not-removable",
      `${blocker}. ${ctx.state.name}'s ${where} can only be removed with the instance stopped (gnt-instance modify --${ref.kind === "nic" ? "net" : "disk"} ${ref.index}:remove, then start it); a restart by Ganeti 2.16+ records slots and uuids for next time.`,
    );
  }
  const h = dev.hvinfo as NonNullable<typeof dev.hvinfo>;
  const id = h.id as string;
  const steps: PlanStep[] = [];
  let place: PlannedSlot;
  if (isPciHvinfo(h)) {
    const slot = hvinfoSlot(h);
    place = pciPlace(slot);
    const here = live.find((d) => d.qdevId === id);
    if (!here) {
      const other = live.find((d) => d.slot === slot);
      refuse(
        "not-on-live-bus",
        `Drift: the runtime file records ${ref.kind} ${id} at ${displayPciAddr(slot)}, but the live bus has no device with that id${other ? ` (${displayPciAddr(slot)} holds '${other.qdevId || "a QEMU device"}')` : ` (${displayPciAddr(slot)} is empty)`}: it was probably unplugged without updating the file. Check the guest; if the device is really gone, remove it from the runtime file only.`,
      );
    }
    if (here.slot !== slot) {
      ctx.warnings.push(`Drift: ${id} runs at ${displayPciAddr(here.slot)} but the runtime file says ${displayPciAddr(slot)}; removing it by id.`);
    }
  } else if (isScsiHvinfo(h)) {
    const scsiId = h["scsi-id"];
    place = scsiPlace(scsiId);
    const liveScsi = ctx.state.liveScsi;
    if (liveScsi === undefined || liveScsi === null) {
      ctx.warnings.push(`The live SCSI targets are unknown: could not confirm ${id} is attached before removing it.`);
    } else if (!liveScsi.some((t) => t.qdevId === id)) {
      refuse(
        "not-on-live-bus",
        `Drift: the runtime file records disk ${id} at SCSI target ${scsiId}, but the live SCSI bus has no such disk: it was probably unplugged without updating the file. Check the guest; if it is really gone, remove it from the runtime file only.`,
      );
    }
  } else {
    refuse("not-removable", `${where} of ${ctx.state.name} has hvinfo on bus ${String(h.bus)}, which this app cannot unplug: remove it with the instance stopped.`);
  }
  const style = parseDeviceId(id);
  if (style?.style === "v1" && ctx.gen === "C") {
    ctx.warnings.push(
      `${id} runs with its Ganeti 2.10–2.15 id: Ganeti 2.16+ would send device_del for ${deviceIdV2(ref.kind, dev.uuid as string)} and fail (it regenerates the id); this plan uses the running id.`,
    );
  }
  steps.push(qmp("device_del", { id }, `Ask the guest to release ${ref.kind} ${id} (${place.bus === "pci" ? displayPciAddr(place.slot as number) : `SCSI target ${place.scsiId}`}).`));
  const back = restore && ref.kind === "nic" && place.slot !== undefined ? restoreSteps(ctx, ref, id, place.slot) : [];
  steps.push({
    kind: "wait-device-deleted",
    id,
    timeoutMs: DEVICE_DELETED_TIMEOUT_MS,
    ...(back.length ? { restore: back } : {}),
    describe: `Wait up to ${DEVICE_DELETED_TIMEOUT_MS / 1000} s for DEVICE_DELETED for ${id} (or for it to leave query-pci); nothing is recorded before that.${back.length ? ` If a later step fails, ${id} is plugged back at ${displayPciAddr(place.slot as number)}.` : ""}`,
  });
  if (ref.kind === "nic") {
    steps.push(qmp("netdev_del", { id }, `Delete netdev ${id}.`));
    const tap = ctx.state.nicTaps?.[ref.index] ?? null;
    steps.push({
      kind: "node-tap-remove",
      tap,
      seq: ref.index,
      describe: `On the node: delete tap ${tap ?? `named in nic/${ctx.state.name}/${ref.index}`} if it still exists.`,
    });
  } else {
    const del = qmp("blockdev-del", { "node-name": id }, `Close block node ${id} (a disk started with -drive has already lost it with its device).`);
    del.tolerateMissing = true;
    steps.push(del);
  }
  steps.push(
    place.bus === "pci"
      ? { kind: "verify", expect: "absent", id, bus: "pci", describe: `Check query-pci no longer shows ${id}.` }
      : { kind: "verify", expect: "absent", id, bus: "scsi", describe: `Check ${id} is no longer attached.` },
  );
  return { ref, id, place, steps };
}

function planRemove(ctx: Ctx, intent: RemoveIntent): { steps: PlanStep[]; place: PlannedSlot } {
  const ref = resolveRef(ctx, intent.kind, intent.ref);
  const live = requireRunning(ctx, `${intent.kind} ${intent.ref}`);
  checkQemu(ctx, false);
  checkHotpluggable(ctx, intent.kind);
  checkCommands(ctx, ["device_del", intent.kind === "nic" ? "netdev_del" : "blockdev-del"], `to hot-remove ${intent.kind} ${intent.ref}`);
  const r = removalSteps(ctx, live, ref, intent.restoreOnUndo === true);
  if (ref.kind === "nic") {
    ctx.rt.nics.splice(ref.index, 1);
    r.steps.push({
      kind: "node-nic-file",
      action: "remove",
      instance: ctx.state.name,
      seq: ref.index,
      describe: `On the node: remove nic/${ctx.state.name}/${ref.index} (Ganeti's bookkeeping).`,
    });
  } else ctx.rt.disks.splice(ref.index, 1);
  return { steps: r.steps, place: r.place };
}

// --------------------------------------------------------------- modify

function planModifyNic(ctx: Ctx, intent: ModifyNicIntent): { steps: PlanStep[]; place: PlannedSlot } {
  const ref = resolveRef(ctx, "nic", intent.ref);
  const live = requireRunning(ctx, `NIC ${intent.ref}`);
  checkQemu(ctx, false);
  checkHotpluggable(ctx, "nic");
  checkCommands(ctx, ["device_del", "netdev_del"], `to hot-modify NIC ${intent.ref}`);
  const removal = removalSteps(ctx, live, ref);
  if (ref.kind !== "nic") throw new Error("unreachable");
  const old = ref.nic;
  const slot = removal.place.slot;
  if (slot === undefined) refuse("not-removable", `NIC ${removal.id} is not on pci.0: it cannot be modified.`);
  const uuid = old.uuid as string;
  // Ganeti's hot-modify puts the NIC back in its slot; the freed slot is checked against everything but itself.
  choosePciSlot(ctx, live, `NIC ${removal.id}`, slot, removal.id, true);
  const id = deviceId(ctx, "nic", uuid, slot);
  if (id !== removal.id) {
    const clash = live.find((d) => d.qdevId === id) ?? undefined;
    const inFile = findDeviceById(ctx.state.runtime.runtime, id);
    if (clash || (inFile && inFile.index !== ref.index)) refuse("id-in-use", `Device id ${id} for the re-added NIC is already in use on ${ctx.state.name}: remove that device first.`);
  }
  const np = old.nicparams ?? {};
  const mode = (["bridged", "openvswitch", "routed"] as const).find((m) => m === np.mode) ?? "bridged";
  const spec: NicSpec = {
    uuid,
    mac: intent.mac ?? old.mac ?? "",
    link: intent.link ?? np.link ?? "",
    mode,
    vlan: np.vlan ?? "",
    driver: old.hvinfo?.driver ?? nicDriver(typeof ctx.hv.nic_type === "string" ? ctx.hv.nic_type : "paravirtual"),
    tap: intent.tap ?? ctx.state.nicTaps?.[ref.index] ?? defaultTap(uuid),
    slot,
    id,
    seq: ref.index,
  };
  if (!spec.mac) refuse("not-removable", `NIC ${removal.id} has no MAC in the runtime file: give one to modify it.`);
  if (mode !== np.mode) ctx.warnings.push(`NIC ${removal.id} has nicparams mode ${JSON.stringify(np.mode)}; it is re-added as bridged.`);
  // Replaced in place (Ganeti appends after removing): the NIC keeps its seq, so nic/<instance>/<seq> stays right.
  const fresh = newNic({ uuid, mac: spec.mac, link: spec.link, mode: spec.mode, vlan: spec.vlan, slot, driver: spec.driver, idStyle: ctx.gen === "B" ? "v1" : "v2" });
  const merged = { ...old, mac: fresh.mac, nicparams: { ...np, link: spec.link }, hvinfo: fresh.hvinfo };
  delete merged.pci;
  ctx.rt.nics[ref.index] = merged;
  const steps = [...removal.steps, ...nicAddSteps(ctx, spec)];
  return { steps, place: pciPlace(slot) };
}

// -------------------------------------------------------- Ganeti's NICs

interface Part {
  steps: PlanStep[];
  place: PlannedSlot;
  runtimeWrite?: RuntimeWrite;
}

/** A NIC change Ganeti makes on the master (its configuration, and with --hotplug the instance and its runtime file). */
function planGanetiNic(ctx: Ctx, intent: GanetiNicIntent): Part {
  const inst = ctx.state.name;
  const on = intent.master ? `on the master ${intent.master}` : "on the master";
  const master = intent.master ? { master: intent.master } : {};
  if (intent.op === "add") {
    const mac = intent.mac as string;
    const mode = intent.mode ?? "bridged";
    const argv = nicAddArgv(inst, { mac, link: intent.link, mode, vlan: intent.vlan });
    const provisional = deviceIdV2("nic", intent.uuid);
    ctx.warnings.push(
      `Ganeti records the NIC first and gives it its uuid: the steps after it use the QEMU id and tap name derived from that uuid (shown here from a provisional one, ${provisional}).`,
      `The slot is kept while ${inst} runs, through soft reboots and migrations; at its next shutdown/startup Ganeti starts the NIC at a slot it picks (the first free one after its reservations), which may differ.`,
    );
    return {
      steps: [
        {
          kind: "ganeti-config",
          op: "add-nic",
          instance: inst,
          ...master,
          hotplug: false,
          argv,
          uuid: intent.uuid,
          mac,
          undo: `${argvText(nicRemoveArgv(inst, "UUID", false))} (configuration only; UUID is the one Ganeti gave, or the NIC with MAC ${mac})`,
          describe: `Record the NIC (MAC ${mac}${intent.link ? `, link ${intent.link}` : ""}, ${mode}) in Ganeti's configuration ${on}, without --hotplug: Ganeti gives it a uuid and changes nothing live.`,
        },
      ],
      place: { bus: "pci", guestAddress: "none (Ganeti's configuration only)" },
      runtimeWrite: "unchanged",
    };
  }
  const hotplug = intent.hotplug === true;
  // Removed from the configuration only: the runtime file need not have it (a NIC only Ganeti's configuration has).
  if (intent.op === "remove" && !hotplug && !findDeviceByUuid(ctx.state.runtime.runtime, intent.uuid)) {
    return {
      steps: [
        {
          kind: "ganeti-config",
          op: "remove-nic",
          instance: inst,
          ...master,
          hotplug: false,
          argv: nicRemoveArgv(inst, intent.uuid, false),
          uuid: intent.uuid,
          describe: `Remove NIC ${intent.uuid} from Ganeti's configuration ${on} only (it is not live and not in the runtime file; nothing changes live).`,
        },
      ],
      place: { bus: "pci", guestAddress: "none (Ganeti's configuration only)" },
      runtimeWrite: "unchanged",
    };
  }
  const ref = resolveRef(ctx, "nic", intent.uuid);
  if (ref.kind !== "nic") throw new Error("unreachable");
  const argv = intent.op === "remove" ? nicRemoveArgv(inst, intent.uuid, hotplug) : nicModifyArgv(inst, intent.uuid, { mac: intent.mac, link: intent.link }, hotplug);
  const what = intent.op === "remove" ? "Remove" : `Change (${[intent.mac ? `MAC ${intent.mac}` : "", intent.link ? `link ${intent.link}` : ""].filter(Boolean).join(", ")})`;
  const step: PlanStep = {
    kind: "ganeti-config",
    op: intent.op === "remove" ? "remove-nic" : "modify-nic",
    instance: inst,
    ...master,
    hotplug,
    argv,
    uuid: intent.uuid,
    describe: hotplug
      ? `${what} NIC ${intent.uuid} through Ganeti ${on} (its own hotplug: Ganeti ${intent.op === "remove" ? "unplugs it" : "unplugs it and plugs it back at the same slot"}, saves the runtime file and updates its configuration).`
      : `${what} NIC ${intent.uuid} in Ganeti's configuration ${on} only (nothing changes live).`,
  };
  if (!hotplug) return { steps: [step], place: { bus: "pci", guestAddress: "none (Ganeti's configuration only)" }, runtimeWrite: "unchanged" };
  const live = requireRunning(ctx, `NIC ${intent.uuid}`);
  checkQemu(ctx, false);
  checkHotpluggable(ctx, "nic");
  const nic = ref.nic;
  const id = nic.hvinfo?.id;
  const ganetiId = deviceIdV2("nic", intent.uuid);
  if (!isPciHvinfo(nic.hvinfo) || id === undefined) {
    refuse("not-removable", `NIC ${intent.uuid} of ${inst} has no PCI slot in its runtime file, so Ganeti's hotplug cannot ${intent.op} it: do it with the instance stopped.`);
  }
  if (id !== ganetiId) {
    refuse(
      "not-removable",
      `NIC ${intent.uuid} of ${inst} runs as ${id}, but Ganeti's own hotplug acts on ${ganetiId} (the id it derives from the uuid), which QEMU does not have: it would fail. Make this change runtime only, then bring Ganeti's configuration in line (gnt-instance modify --net ${intent.uuid}:${intent.op === "remove" ? "remove" : "modify,…"} ${inst}).`,
    );
  }
  const slot = hvinfoSlot(nic.hvinfo);
  const here = live.find((d) => d.qdevId === id);
  if (!here) {
    refuse("not-on-live-bus", `Drift: the runtime file records NIC ${id} at ${displayPciAddr(slot)}, but the live bus has no device with that id: Ganeti's hotplug would fail. Check the instance's drift first.`);
  }
  ctx.rt.nics.splice(ref.index, 1);
  if (intent.op === "remove") {
    return { steps: [step, { kind: "verify", expect: "absent", id, bus: "pci", describe: `Check query-pci no longer shows ${id}.` }], place: pciPlace(slot), runtimeWrite: "ganeti" };
  }
  // Ganeti's hot-modify unplugs the NIC and adds it again with the same hvinfo, appended to the runtime file's list.
  ctx.rt.nics.push({ ...nic, ...(intent.mac ? { mac: intent.mac } : {}), nicparams: { ...(nic.nicparams ?? {}), ...(intent.link ? { link: intent.link } : {}) } });
  ctx.warnings.push(`Ganeti unplugs NIC ${id} and plugs it back at ${displayPciAddr(slot)}: the guest loses the link for a moment (-f answers Ganeti's question about that for you).`);
  return {
    steps: [step, { kind: "verify", expect: "present", id, bus: "pci", slot, describe: `Check query-pci shows ${id} at ${displayPciAddr(slot)} again.` }],
    place: pciPlace(slot),
    runtimeWrite: "ganeti",
  };
}

// ------------------------------------------------------- Ganeti's disks

/** A disk change Ganeti makes on the master: a new disk recorded (and its storage created), or a disk it knows hot-removed (and its storage deleted). */
function planGanetiDisk(ctx: Ctx, intent: GanetiDiskIntent): Part {
  const inst = ctx.state.name;
  const on = intent.master ? `on the master ${intent.master}` : "on the master";
  const master = intent.master ? { master: intent.master } : {};
  if (intent.op === "add") {
    const size = intent.sizeMiB as number;
    const index = intent.index as number;
    ctx.warnings.push(
      `Ganeti records the disk first and gives it its uuid and its storage: the steps after it use the QEMU id derived from that uuid (shown here from a provisional one, ${deviceIdV2("disk", intent.uuid)}) and the file Ganeti creates (shown as a placeholder path).`,
      `The slot is kept while ${inst} runs, through soft reboots and migrations; at its next shutdown/startup Ganeti starts the disk where it puts disks (the first free slot after its reservations, or its SCSI target), which may differ.`,
    );
    return {
      steps: [
        {
          kind: "ganeti-config",
          op: "add-disk",
          instance: inst,
          ...master,
          hotplug: false,
          argv: diskAddArgv(inst, size),
          uuid: intent.uuid,
          index,
          undo: `${argvText(diskRemoveArgv(inst, "UUID"))} (UUID is the one Ganeti gave; this deletes the storage it created)`,
          describe: `Record a new ${size} MiB disk in Ganeti's configuration ${on}, without --hotplug: Ganeti creates its storage and gives it a uuid, as disk/${index}; then ${argvText(activateDisksArgv(inst))} makes its link in instance-disks. Nothing changes live.`,
        },
      ],
      place: { bus: "pci", guestAddress: "none (Ganeti's configuration only)" },
      runtimeWrite: "unchanged",
    };
  }
  const ref = resolveRef(ctx, "disk", intent.uuid);
  if (ref.kind !== "disk") throw new Error("unreachable");
  const live = requireRunning(ctx, `disk ${intent.uuid}`);
  checkQemu(ctx, false);
  checkHotpluggable(ctx, "disk");
  const h = ref.entry.disk.hvinfo;
  const id = h?.id;
  const ganetiId = deviceIdV2("disk", intent.uuid);
  if (id !== ganetiId || !(isPciHvinfo(h) || isScsiHvinfo(h))) {
    refuse(
      "not-removable",
      `Disk ${intent.uuid} of ${inst} runs as ${id ?? "a device without an id"}, but Ganeti's own hotplug acts on ${ganetiId} (the id it derives from the uuid): it would fail. Remove it with the instance stopped (gnt-instance modify --disk ${intent.uuid}:remove ${inst}).`,
    );
  }
  let place: PlannedSlot;
  let check: PlanStep;
  if (isPciHvinfo(h)) {
    const slot = hvinfoSlot(h);
    if (!live.some((d) => d.qdevId === id)) {
      refuse("not-on-live-bus", `Drift: the runtime file records disk ${id} at ${displayPciAddr(slot)}, but the live bus has no device with that id: Ganeti's hotplug would fail. Check the instance's drift first.`);
    }
    place = pciPlace(slot);
    check = { kind: "verify", expect: "absent", id, bus: "pci", describe: `Check query-pci no longer shows ${id}.` };
  } else {
    place = scsiPlace(h["scsi-id"]);
    check = { kind: "verify", expect: "absent", id, bus: "scsi", describe: `Check ${id} is no longer attached.` };
  }
  ctx.rt.disks.splice(ref.index, 1);
  const lid = ref.entry.disk.logical_id;
  const storage = Array.isArray(lid) && typeof lid.at(-1) === "string" ? ` (${String(lid.at(-1))})` : "";
  ctx.warnings.push(`Ganeti's remove deletes the disk's storage${storage}: its data is gone for good.`);
  return {
    steps: [
      {
        kind: "ganeti-config",
        op: "remove-disk",
        instance: inst,
        ...master,
        hotplug: true,
        argv: diskRemoveArgv(inst, intent.uuid),
        uuid: intent.uuid,
        describe: `Remove disk ${intent.uuid} through Ganeti ${on} (its own hotplug: Ganeti unplugs it, saves the runtime file, deletes its storage and drops it from its configuration).`,
      },
      check,
    ],
    place,
    runtimeWrite: "ganeti",
  };
}

// -------------------------------------------------------------- repairs

const MODES = ["bridged", "openvswitch", "routed"] as const;

/** A device the runtime file records and the live bus lacks, plugged again at its recorded slot under its recorded id. */
function planReplug(ctx: Ctx, intent: ReplugIntent): Part {
  const ref = resolveRef(ctx, intent.kind, intent.ref);
  const live = requireRunning(ctx, `${intent.kind} ${intent.ref}`);
  if (ref.kind !== "nic") return planReplugDisk(ctx, ref, live);
  checkQemu(ctx, false);
  checkHotpluggable(ctx, "nic");
  const nic = ref.nic;
  const h = nic.hvinfo;
  if (!isPciHvinfo(h) || typeof h.id !== "string" || !nic.uuid || !nic.mac) {
    refuse("not-removable", `NIC ${intent.ref} of ${ctx.state.name} has no slot, id, uuid or MAC in its runtime file, so it cannot be plugged back where it was: drop it from the runtime file (repair forget) and add a NIC anew.`);
  }
  const id = h.id;
  const slot = hvinfoSlot(h);
  const here = live.find((d) => d.qdevId === id);
  if (here) refuse("id-in-use", `NIC ${id} of ${ctx.state.name} is already on the live bus (at ${displayPciAddr(here.slot)}): there is nothing to plug back.`);
  // Its own record does not hold the slot against it.
  choosePciSlot(ctx, live, `NIC ${id}`, slot, id, true);
  const np = nic.nicparams ?? {};
  const mode = MODES.find((m) => m === np.mode) ?? "bridged";
  if (mode !== np.mode) ctx.warnings.push(`NIC ${id} has nicparams mode ${JSON.stringify(np.mode)}; it is plugged back as bridged.`);
  const tap = ctx.state.nicTaps?.[ref.index] ?? defaultTap(nic.uuid);
  const spec: NicSpec = {
    uuid: nic.uuid,
    mac: nic.mac,
    link: np.link ?? "",
    mode,
    vlan: np.vlan ?? "",
    driver: h.driver ?? nicDriver(typeof ctx.hv.nic_type === "string" ? ctx.hv.nic_type : "paravirtual"),
    tap,
    slot,
    id,
    seq: ref.index,
  };
  checkCommands(ctx, ["netdev_del"], `to clear what is left of NIC ${id}`);
  // A NIC unplugged behind the file's back (device_del alone) leaves its netdev and tap: both go first, so the id and the tap name are free.
  const leftover = qmp("netdev_del", { id }, `Delete netdev ${id} if an unplug left it behind.`);
  leftover.tolerateMissing = true;
  const steps: PlanStep[] = [
    leftover,
    { kind: "node-tap-remove", tap, seq: ref.index, describe: `On the node: delete tap ${tap} if it is still there (it is made again next).` },
    ...nicAddSteps(ctx, spec),
  ];
  ctx.warnings.push(`The guest gets NIC ${id} back at ${displayPciAddr(slot)} with MAC ${nic.mac}, as the runtime file records it; the runtime file is not changed.`);
  return { steps, place: pciPlace(slot), runtimeWrite: "unchanged" };
}

/** A disk the runtime file records and the live bus lacks, opened again from its recorded path and plugged back where the file has it. */
function planReplugDisk(ctx: Ctx, ref: Extract<DeviceRef, { kind: "disk" }>, live: LivePciDevice[]): Part {
  const d = ref.entry.disk;
  const h = d.hvinfo;
  const path = ref.entry.linkName;
  const id = h?.id;
  if (typeof id !== "string" || !path.startsWith("/")) {
    refuse("not-removable", `Disk ${d.uuid} of ${ctx.state.name} has no id or no path in its runtime file, so it cannot be plugged back where it was: drop it from the runtime file (repair forget) and add the disk anew.`);
  }
  checkQemu(ctx, true);
  checkHotpluggable(ctx, "disk");
  if (live.some((x) => x.qdevId === id) || ctx.state.liveScsi?.some((t) => t.qdevId === id)) {
    refuse("id-in-use", `Disk ${id} of ${ctx.state.name} is already on the live bus: there is nothing to plug back.`);
  }
  const fd = needsFdPassing(ctx);
  checkCommands(ctx, fd.pass ? ["add-fd", "remove-fd", "blockdev-add", "blockdev-del", "device_add"] : ["blockdev-add", "blockdev-del", "device_add"], `to plug disk ${id} back`);
  const kind = d.dev_type === "blockdev" || (d.dev_type === undefined && path.startsWith("/dev/") && !path.startsWith("/dev/shm/")) ? "block" : "file";
  let device: QmpStep;
  let place: PlannedSlot;
  let check: PlanStep;
  if (isPciHvinfo(h)) {
    const slot = hvinfoSlot(h);
    choosePciSlot(ctx, live, `disk ${id}`, slot, id, true);
    device = qmp("device_add", { driver: h.driver ?? "virtio-blk-pci", id, bus: "pci.0", addr: formatPciAddr(slot), drive: id }, `Add ${h.driver ?? "virtio-blk-pci"} ${id} at ${displayPciAddr(slot)}.`, { command: "device_del", arguments: { id } });
    place = pciPlace(slot);
    check = { kind: "verify", expect: "present", id, bus: "pci", slot, describe: `Check query-pci shows ${id} at ${displayPciAddr(slot)}.` };
  } else if (isScsiHvinfo(h)) {
    const scsiId = h["scsi-id"];
    if (!live.some((x) => x.qdevId === SCSI_CONTROLLER_ID)) refuse("scsi-controller", `${ctx.state.name} has no SCSI controller on its live bus, so disk ${id} cannot be plugged back on scsi.0: restart the instance (gnt-instance reboot).`);
    const other = ctx.state.liveScsi?.find((t) => t.scsiId === scsiId);
    if (other) refuse("slot-unavailable", `SCSI target ${scsiId} of ${ctx.state.name} now holds '${other.qdevId}': disk ${id} cannot go back there. Drop it from the runtime file (repair forget) and add it anew at a free target.`);
    device = qmp("device_add", { driver: h.driver ?? "scsi-hd", id, bus: "scsi.0", channel: 0, "scsi-id": scsiId, lun: 0, drive: id }, `Add ${h.driver ?? "scsi-hd"} ${id} at SCSI target ${scsiId} (channel 0, lun 0).`, {
      command: "device_del",
      arguments: { id },
    });
    place = scsiPlace(scsiId);
    check = { kind: "verify", expect: "present", id, bus: "scsi", scsiId, describe: `Check ${id} is attached at SCSI target ${scsiId}.` };
  } else {
    refuse("not-removable", `Disk ${id} of ${ctx.state.name} is recorded on bus ${String(h?.bus)}, where this app cannot plug it: restart the instance.`);
  }
  const fileDriver = kind === "block" ? "host_device" : "file";
  const blockdev = (filename: string): QmpStep =>
    qmp("blockdev-add", { driver: "raw", "node-name": id, file: { driver: fileDriver, filename } }, `Open ${path} as block node ${id} (raw over ${fileDriver}).`, { command: "blockdev-del", arguments: { "node-name": id } });
  // A disk unplugged behind the file's back (device_del alone) may leave its block node: it goes first, so the name is free.
  const leftover = qmp("blockdev-del", { "node-name": id }, `Close block node ${id} if an unplug left it behind.`);
  leftover.tolerateMissing = true;
  const steps: PlanStep[] = [leftover];
  if (fd.pass) {
    steps.push({
      kind: "node-pass-fd",
      mechanism: "add-fd",
      socket: "qmp",
      source: { type: "path", path },
      fdnames: [],
      commands: [blockdev(`/dev/fdset/${FDSET_PLACEHOLDER}`), device, qmp("remove-fd", { "fdset-id": FDSET_PLACEHOLDER }, "Drop the fd set; the block node keeps its own reference.")],
      describe: `On the node (${fd.why}): open ${path} read-write as root, pass it to QEMU with add-fd, then in the same QMP session add the block node and the disk.`,
    });
  } else {
    steps.push(blockdev(path), device);
  }
  steps.push(check);
  ctx.warnings.push(`Disk ${id} is opened again from ${path}, the path the runtime file records, and plugged back as it records it; the runtime file is not changed.`);
  return { steps, place, runtimeWrite: "unchanged" };
}

/** A device the runtime file records and the live bus lacks, dropped from the file (and a NIC's nic file). */
function planForget(ctx: Ctx, intent: ForgetIntent): Part {
  const ref = resolveRef(ctx, intent.kind, intent.ref);
  const dev = ref.kind === "nic" ? ref.nic : ref.entry.disk;
  const id = dev.hvinfo?.id;
  const live = ctx.state.livePci;
  const liveScsi = ctx.state.liveScsi;
  if (id !== undefined && (live?.some((d) => d.qdevId === id) || liveScsi?.some((t) => t.qdevId === id))) {
    refuse("id-in-use", `${intent.kind} ${id} of ${ctx.state.name} is on the live bus: dropping it from the runtime file would hide it from migrations and Ganeti. Unplug it instead (remove).`);
  }
  if (live === null) ctx.warnings.push(`The live bus of ${ctx.state.name} could not be read: it is not known whether ${intent.kind} ${intent.ref} is really gone from the guest.`);
  const steps: PlanStep[] = [];
  const what = `${ref.kind}s[${ref.index}]${dev.uuid ? ` (${dev.uuid})` : ""}`;
  if (ref.kind === "nic") {
    if (live !== null && id !== undefined) {
      const leftover = qmp("netdev_del", { id }, `Delete netdev ${id} if an unplug left it behind.`);
      leftover.tolerateMissing = true;
      steps.push(leftover);
    }
    const tap = ctx.state.nicTaps?.[ref.index] ?? null;
    steps.push(
      { kind: "node-tap-remove", tap, seq: ref.index, describe: `On the node: delete tap ${tap ?? `named in nic/${ctx.state.name}/${ref.index}`} if it still exists.` },
      { kind: "node-nic-file", action: "remove", instance: ctx.state.name, seq: ref.index, describe: `On the node: remove nic/${ctx.state.name}/${ref.index} (Ganeti's bookkeeping).` },
    );
    ctx.rt.nics.splice(ref.index, 1);
  } else {
    ctx.rt.disks.splice(ref.index, 1);
  }
  ctx.warnings.push(`${what} leaves ${ctx.state.name}'s runtime file only: a soft reboot or a migration no longer brings it back.`);
  const h = dev.hvinfo;
  return { steps, place: isPciHvinfo(h) ? pciPlace(hvinfoSlot(h)) : isScsiHvinfo(h) ? scsiPlace(h["scsi-id"]) : { bus: "pci", guestAddress: "none (not live)" } };
}

/** A NIC on the live bus that the runtime file lacks, written into the file at its live slot under its live id. */
function planRecordNic(ctx: Ctx, intent: RecordNicIntent): Part {
  const live = requireRunning(ctx, `NIC ${intent.id}`);
  const here = live.find((d) => d.qdevId === intent.id && d.function === 0);
  if (!here) refuse("not-on-live-bus", `The live bus of ${ctx.state.name} has no device ${intent.id}: there is nothing to record.`);
  const rt = ctx.state.runtime.runtime;
  if (findDeviceById(rt, intent.id)) refuse("id-in-use", `${intent.id} is already in ${ctx.state.name}'s runtime file: there is nothing to record.`);
  const other = findDeviceByUuid(rt, intent.uuid);
  if (other) refuse("duplicate-uuid", `uuid ${intent.uuid} already belongs to ${other.kind}s[${other.index}] in ${ctx.state.name}'s runtime file.`);
  const parsed = parseDeviceId(intent.id);
  if (parsed && parsed.kind !== "nic") refuse("wrong-kind", `${intent.id} is a ${parsed.kind} by its id, not a NIC: record only NICs this way.`);
  const model = typeof ctx.hv.nic_type === "string" ? ctx.hv.nic_type : "paravirtual";
  const nic = newNic({ uuid: intent.uuid, mac: intent.mac, link: intent.link ?? "", mode: intent.mode ?? "bridged", vlan: intent.vlan ?? "", slot: here.slot, driver: nicDriver(model), idStyle: ctx.gen === "B" ? "v1" : "v2" });
  // Recorded under the id it runs with: that is the id a migration target starts it with and an unplug asks for.
  if (nic.hvinfo) nic.hvinfo.id = intent.id;
  ctx.rt.nics.push(nic);
  ctx.warnings.push(
    `${intent.id} is recorded at ${displayPciAddr(here.slot)} as ${nicDriver(model)} (the instance's nic_type) with MAC ${intent.mac}${intent.link ? ` on ${intent.link}` : ""}: the live bus does not tell a NIC's MAC or link, so these are as given; a migration target starts it with them.`,
    `Its tap is not recorded in Ganeti's nic file (its name is not known here): Ganeti's hot-remove of it still works; the tap is left for QEMU to close.`,
  );
  return { steps: [{ kind: "verify", expect: "present", id: intent.id, bus: "pci", slot: here.slot, describe: `Check query-pci still shows ${intent.id} at ${displayPciAddr(here.slot)}.` }], place: pciPlace(here.slot) };
}

/** A device on the live bus that the runtime file lacks, unplugged (the file is left as it is). */
function planUnplug(ctx: Ctx, intent: UnplugIntent): Part {
  const live = requireRunning(ctx, intent.id);
  checkQemu(ctx, false);
  const rt = ctx.state.runtime.runtime;
  if (findDeviceById(rt, intent.id)) refuse("id-in-use", `${intent.id} is in ${ctx.state.name}'s runtime file: remove it (remove), so the file is updated too.`);
  const pci = live.find((d) => d.qdevId === intent.id && d.function === 0);
  const scsi = ctx.state.liveScsi?.find((t) => t.qdevId === intent.id);
  if (!pci && !scsi) refuse("not-on-live-bus", `The live bus of ${ctx.state.name} has no device ${intent.id}: there is nothing to unplug.`);
  const kind = parseDeviceId(intent.id)?.kind;
  if (!kind) refuse("not-removable", `${intent.id} is not a NIC or disk by its id (Ganeti's nic-…/disk-… or hotnic-…/hotdisk-…): it may be QEMU's own or pinned in kvm_cmd; it is not unplugged from here.`);
  checkCommands(ctx, ["device_del"], `to unplug ${intent.id}`);
  const place = pci ? pciPlace(pci.slot) : scsiPlace((scsi as NonNullable<typeof scsi>).scsiId);
  const steps: PlanStep[] = [
    qmp("device_del", { id: intent.id }, `Ask the guest to release ${kind} ${intent.id} (${pci ? displayPciAddr(pci.slot) : `SCSI target ${place.scsiId}`}).`),
    { kind: "wait-device-deleted", id: intent.id, timeoutMs: DEVICE_DELETED_TIMEOUT_MS, describe: `Wait up to ${DEVICE_DELETED_TIMEOUT_MS / 1000} s for DEVICE_DELETED for ${intent.id}.` },
  ];
  const backend = qmp(kind === "nic" ? "netdev_del" : "blockdev-del", kind === "nic" ? { id: intent.id } : { "node-name": intent.id }, `Delete its ${kind === "nic" ? "netdev" : "block node"} ${intent.id} if it has one by that name.`);
  backend.tolerateMissing = true;
  steps.push(backend, pci ? { kind: "verify", expect: "absent", id: intent.id, bus: "pci", describe: `Check query-pci no longer shows ${intent.id}.` } : { kind: "verify", expect: "absent", id: intent.id, bus: "scsi", describe: `Check ${intent.id} is no longer attached.` });
  if (kind === "nic") ctx.warnings.push(`The tap of ${intent.id} is not known here (the runtime file does not record the NIC): if it outlives the netdev, delete it on the node.`);
  return { steps, place, runtimeWrite: "unchanged" };
}

// ----------------------------------------------------------------- main

function refusalsFromWrite(ctx: Ctx, e: RuntimeWriteError): Refusal[] {
  const readers = ctx.state.readers.ganetiVersions.join(", ");
  return e.reasons.map((r) => ({
    code: "write-refused" as const,
    message: `The runtime file of ${ctx.state.name} must stay readable by generation ${ctx.gen} (${GENERATION_LABEL[ctx.gen]}; readers: ${readers}${ctx.state.readers.floor ? `, floor ${ctx.state.readers.floor}` : ""}), which cannot record this: ${r.device ? `${r.device}: ` : ""}${r.reason}. Nothing was done live. Upgrade those nodes (or lift the floor), or choose a change that generation can record${ctx.gen === "B" ? " (in generation B: a virtio PCI device)" : ""}.`,
  }));
}

/**
 * Plan one hotplug change. `intent` may be unvalidated input (from IPC or
 * the CLI); invalid intents come back as refusals.
 */
export function planHotplug(state: InstanceSnapshot, intent: HotplugIntent | unknown): Plan {
  const parsed = parseIntent(intent);
  if (!parsed.ok) return { ok: false, refusals: parsed.issues.map((m) => ({ code: "invalid-intent", message: `Invalid request: ${m}` })) };
  try {
    const ctx = makeCtx(state);
    const i = parsed.intent;
    const r: Part =
      i.action === "add-nic"
        ? planAddNic(ctx, i)
        : i.action === "add-disk"
          ? planAddDisk(ctx, i)
          : i.action === "remove"
            ? planRemove(ctx, i)
            : i.action === "ganeti-nic"
              ? planGanetiNic(ctx, i)
              : i.action === "ganeti-disk"
                ? planGanetiDisk(ctx, i)
                : i.action === "replug"
                  ? planReplug(ctx, i)
                  : i.action === "forget"
                    ? planForget(ctx, i)
                    : i.action === "record-nic"
                      ? planRecordNic(ctx, i)
                      : i.action === "unplug"
                        ? planUnplug(ctx, i)
                        : planModifyNic(ctx, i);
    const runtimeWrite = r.runtimeWrite ?? "app";
    let fileTextAfter: string;
    try {
      fileTextAfter = writeRuntime(ctx.rt, ctx.target);
    } catch (e) {
      if (e instanceof RuntimeWriteError) return { ok: false, refusals: refusalsFromWrite(ctx, e) };
      throw e;
    }
    if (state.runtime.generation !== ctx.gen && runtimeWrite === "app") {
      ctx.warnings.push(`The runtime file is rewritten from generation ${state.runtime.generation} to ${ctx.gen} (${GENERATION_LABEL[ctx.gen]}), the newest format all readers accept.`);
    }
    // Ganeti's own hotplug saves the file itself; a change of its configuration alone leaves it be.
    const steps: PlanStep[] =
      runtimeWrite !== "app"
        ? r.steps
        : [
            ...r.steps,
            {
              kind: "write-runtime",
              instance: state.name,
              generation: ctx.gen,
              describe: `Replace ${state.name}.runtime (generation ${ctx.gen}) if it still holds the bytes this plan was made from.`,
            },
          ];
    return {
      ok: true,
      steps,
      runtimeAfter: ctx.rt,
      writeGeneration: ctx.gen,
      fileTextAfter,
      fileDiff:
        runtimeWrite === "unchanged"
          ? [r.steps.some((x) => x.kind === "ganeti-config") ? "= the runtime file is not changed (Ganeti's configuration only)" : "= the runtime file is not changed (the live bus only)"]
          : describeRuntimeChange(state.runtime.runtime, state.runtime.generation, ctx.rt, ctx.gen, ctx.rawKvmCmd),
      slot: r.place,
      warnings: ctx.warnings,
      readers: readersOf(state),
      ...(runtimeWrite !== "app" ? { runtimeWrite } : {}),
    };
  } catch (e) {
    if (e instanceof Refused) return { ok: false, refusals: e.refusals };
    throw e;
  }
}
