// Builds an InstanceView from what was read on the node: the runtime file's
// text and, when the instance answered on QMP, its live PCI and SCSI buses.
// Pure: the I/O lives in electron/inventory.
import { readRuntime, type RuntimeDocument } from "../runtime/index";
import { isPciHvinfo, isScsiHvinfo, hvinfoSlot, type Hvinfo } from "../runtime/schema";
import { hotRemoveBlocker } from "../runtime/device-id";
import {
  describeLiveDevice,
  guestPciAddress,
  pciReservations,
  pciSlotMap,
  scsiTargetMap,
  scsiTargetLimit,
  QEMU_DEFAULT_PCI_RESERVATIONS,
  type FilePciSlot,
  type FileScsiTarget,
} from "../slots/index";
import { pinnedPciDevices } from "../qemu/command-line";
import { assumedReaderVersion } from "./planner-input";
import type { InstanceFacts } from "./facts";
import type { DeviceView, InstanceRunState, InstanceView } from "./view";

function reservation(facts: InstanceFacts, doc: RuntimeDocument | null): { count: number; note: string } {
  // Unknown node version: the file's own generation tells which Ganeti wrote it.
  const version = facts.ganetiVersion ?? assumedReaderVersion(doc?.generation ?? "C");
  const hv = doc?.runtime.hvparams.kvm_pci_reservations;
  const r = pciReservations(version, typeof hv === "number" ? hv : null);
  if (r.ok) {
    const assumed = facts.ganetiVersion ? "" : ` (Ganeti ${version} assumed from the runtime file; set the node's version to be exact)`;
    return { count: r.count, note: `${r.explanation}${assumed}` };
  }
  // Before 2.10 there is no hotplug: keep every slot from being offered.
  return { count: r.code === "no-hotplug" ? 32 : QEMU_DEFAULT_PCI_RESERVATIONS, note: r.message };
}

function stateOf(facts: InstanceFacts): { state: InstanceRunState; detail?: string } {
  if (facts.live) return { state: facts.live.status };
  if (facts.userShutdown && facts.liveProblem?.state !== "busy") {
    return { state: "user-shutdown", detail: "The guest shut itself down (kvmd left ctrl/<instance>.shutdown)." };
  }
  if (facts.liveProblem) return { state: facts.liveProblem.state, detail: facts.liveProblem.detail };
  return { state: "stopped" };
}

export function buildInstanceView(facts: InstanceFacts): InstanceView {
  let doc: RuntimeDocument | null = null;
  let runtimeError = facts.runtimeReadError;
  if (facts.runtimeText !== null && runtimeError === undefined) {
    try {
      doc = readRuntime(facts.runtimeText);
    } catch (err) {
      runtimeError = err instanceof Error ? err.message : String(err);
    }
  }
  const { count: reservedCount, note: reservationNote } = reservation(facts, doc);
  const live = facts.live;

  const fileSlots: FilePciSlot[] = [];
  const fileTargets: FileScsiTarget[] = [];
  const devices: DeviceView[] = [];
  const place = (kind: "nic" | "disk", index: number, hv: Hvinfo | undefined, base: Partial<DeviceView>, blocker: string | null) => {
    const view: DeviceView = { kind, index, bus: "none", live: live ? false : null, ...base };
    if (blocker) view.removeBlocker = blocker;
    if (hv && isPciHvinfo(hv)) {
      const slot = hvinfoSlot(hv);
      Object.assign(view, { bus: "pci", slot, id: hv.id, driver: hv.driver, guestAddress: guestPciAddress(slot) });
      fileSlots.push({ slot, deviceId: hv.id });
      if (live) view.live = live.pci.some((d) => d.slot === slot && d.qdevId === hv.id);
    } else if (hv && isScsiHvinfo(hv)) {
      Object.assign(view, { bus: "scsi", scsiId: hv["scsi-id"], id: hv.id, driver: hv.driver });
      fileTargets.push({ scsiId: hv["scsi-id"], deviceId: hv.id });
      if (live) view.live = live.scsi.some((t) => t.scsiId === hv["scsi-id"] && t.qdevId === hv.id);
    }
    devices.push(view);
  };
  doc?.runtime.nics.forEach((nic, index) => {
    const np = (nic.nicparams ?? {}) as Record<string, unknown>;
    place(
      "nic",
      index,
      nic.hvinfo,
      {
        uuid: nic.uuid,
        mac: nic.mac,
        link: typeof np.link === "string" ? np.link : undefined,
        mode: typeof np.mode === "string" ? np.mode : undefined,
      },
      hotRemoveBlocker({ kind: "nic", index, nic }),
    );
  });
  doc?.runtime.disks.forEach((entry, index) => {
    const size = entry.disk.size;
    place(
      "disk",
      index,
      entry.disk.hvinfo,
      { uuid: entry.disk.uuid, path: entry.uri ?? entry.linkName, sizeMiB: typeof size === "number" ? size : undefined },
      hotRemoveBlocker({ kind: "disk", index, entry }),
    );
  });

  for (const pinned of doc ? pinnedPciDevices(doc.runtime.kvmCmd) : []) fileSlots.push({ slot: pinned.slot, deviceId: pinned.id });

  const pci = pciSlotMap({ reservedCount, fileSlots, liveSlots: live ? live.pci : null }).map((e) => ({
    slot: e.slot,
    state: e.state,
    reserved: e.reserved,
    reasons: e.reasons,
    liveDevices: e.liveDevices.map((d) => ({ ...d, label: describeLiveDevice(d) })),
    fileDevices: e.fileDevices,
    ...(e.drift ? { drift: e.drift, driftNote: e.driftNote } : {}),
  }));
  // Only the targets the instance's controller type can address.
  const controllerType = doc?.runtime.hvparams.scsi_controller_type;
  const scsiLimit = scsiTargetLimit(typeof controllerType === "string" ? controllerType : undefined);
  const scsi = scsiTargetMap({ fileTargets, liveTargets: live ? live.scsi : null }, scsiLimit.count).map((e) => ({
    scsiId: e.scsiId,
    state: e.state,
    reasons: e.reasons,
    ...(e.liveDevice ? { liveDevice: e.liveDevice } : {}),
    ...(e.fileDevice ? { fileDevice: e.fileDevice } : {}),
    ...(e.drift ? { drift: e.drift, driftNote: e.driftNote } : {}),
  }));
  const drift: InstanceView["drift"] = [
    ...pci.filter((e) => e.drift).map((e) => ({ bus: "pci" as const, at: e.slot, kind: e.drift!, note: e.driftNote ?? "" })),
    ...scsi.filter((e) => e.drift).map((e) => ({ bus: "scsi" as const, at: e.scsiId, kind: e.drift!, note: e.driftNote ?? "" })),
  ];
  const { state, detail } = stateOf(facts);
  return {
    node: facts.node,
    name: facts.name,
    state,
    ...(detail ? { stateDetail: detail } : {}),
    ...(live ? { qemuVersion: live.qemuVersion } : {}),
    ...(doc ? { generation: doc.generation } : {}),
    ...(runtimeError ? { runtimeError } : {}),
    notes: doc ? doc.notes.map((n) => ({ rule: n.rule, detail: n.detail })) : [],
    reservedCount,
    reservationNote,
    liveChecked: live !== null,
    pci,
    scsi,
    scsiController: live ? live.scsiController : null,
    devices,
    drift,
  };
}
