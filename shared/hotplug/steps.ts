/**
 * The plan the executor runs, step by step, in order. Every step carries
 * `describe`, one sentence for the preview ("what will happen"), so the UI
 * shows exactly what the executor does.
 */
import type { Generation } from "../runtime";

/** A QMP command exactly as it goes on the wire (`{"execute": command, "arguments": arguments}`). */
export interface QmpCall {
  command: string;
  arguments: Record<string, unknown>;
}

/**
 * In a node-pass-fd step's commands, a string argument equal to this is
 * replaced by the fdset id `add-fd` returned (as a number), and inside a
 * longer string (`/dev/fdset/{fdset-id}`) by its decimal text.
 */
export const FDSET_PLACEHOLDER = "{fdset-id}";

export interface QmpStep extends QmpCall {
  kind: "qmp";
  /** What undoes this command if a later step fails. */
  undo?: QmpCall;
  /**
   * True when "not found" from QEMU is success: a disk started with -drive
   * loses its block backend together with its device, so blockdev-del has
   * nothing left to delete.
   */
  tolerateMissing?: boolean;
  describe: string;
}

export interface NodeTapCreateStep {
  kind: "node-tap-create";
  /** Interface name, at most 15 characters. */
  tap: string;
  /** Bridge (bridged), OVS switch (openvswitch) or routing table (routed); "" for none. */
  link: string;
  mode: "bridged" | "openvswitch" | "routed";
  /** Ganeti nicparams vlan ("" for none). */
  vlan: string;
  /** Create a persistent tap (ip tuntap add … mode tap vnet_hdr), attach it per mode, set it up. */
  describe: string;
}

export interface NodeTapRemoveStep {
  kind: "node-tap-remove";
  /** null when the name is unknown: read it from nic/<instance>/<seq>. */
  tap: string | null;
  seq: number;
  /** Delete the tap if it still exists (a tap Ganeti opened vanishes with its netdev). */
  describe: string;
}

export type FdSource =
  /** Open /dev/net/tun, TUNSETIFF to this tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR); with vhost also /dev/vhost-net. */
  | { type: "tap"; tap: string; vhost: boolean }
  /** open(path, O_RDWR) on the node, as root. */
  | { type: "path"; path: string };

/**
 * File descriptors travel with SCM_RIGHTS over a local UNIX socket, so this
 * runs on the node (python3 over SSH), connected to ctrl/<instance>.qmp:
 * greeting, qmp_capabilities, then for each fd one byte " " with the fd in
 * SCM_RIGHTS followed by `getfd {fdname}` (per fdnames) or `add-fd`.
 * `commands` run in that same QMP connection, because QEMU keeps getfd
 * names per monitor connection and drops an add-fd set when the adding
 * connection closes before a block device holds it. The executor's own QMP
 * session must be closed meanwhile (.qmp takes one client at a time).
 */
export interface NodePassFdStep {
  kind: "node-pass-fd";
  mechanism: "getfd" | "add-fd";
  socket: "qmp";
  source: FdSource;
  /** getfd names, in the order the fds are sent (tap fd first, then vhost). */
  fdnames: string[];
  commands: QmpStep[];
  describe: string;
}

export interface WaitDeviceDeletedStep {
  kind: "wait-device-deleted";
  id: string;
  /** Give up after this long; the removal is then NOT recorded. */
  timeoutMs: number;
  /** Done on DEVICE_DELETED for this id, or when the id leaves query-pci; DEVICE_UNPLUG_GUEST_ERROR fails. */
  describe: string;
}

export interface VerifyStep {
  kind: "verify";
  expect: "present" | "absent";
  id: string;
  bus: "pci" | "scsi";
  /** PCI: the slot the device must occupy (present). */
  slot?: number;
  /** SCSI: the target id (present). */
  scsiId?: number;
  describe: string;
}

/** Ganeti's bookkeeping file nic/<instance>/<seq> holding the tap name. */
export interface NodeNicFileStep {
  kind: "node-nic-file";
  action: "write" | "remove";
  instance: string;
  seq: number;
  tap?: string;
  describe: string;
}

export interface WriteRuntimeStep {
  kind: "write-runtime";
  instance: string;
  generation: Generation;
  /**
   * Replace conf/<instance>.runtime with the plan's fileTextAfter (temp +
   * fsync + rename, 0600) only if the file still holds the bytes the plan
   * was made from.
   */
  describe: string;
}

export type PlanStep =
  | NodeTapCreateStep
  | NodeTapRemoveStep
  | NodePassFdStep
  | QmpStep
  | WaitDeviceDeletedStep
  | VerifyStep
  | NodeNicFileStep
  | WriteRuntimeStep;

export type PlanStepKind = PlanStep["kind"];

/** Every QMP command a plan sends, in order, including those sent inside a node-pass-fd step. */
export function qmpStepsOf(steps: readonly PlanStep[]): QmpStep[] {
  return steps.flatMap((s) => (s.kind === "qmp" ? [s] : s.kind === "node-pass-fd" ? s.commands : []));
}
