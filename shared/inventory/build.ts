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
import { threeWayDevices, type FileDevice } from "./three-way";
import type { NodeVersion } from "../ganeti/node-version";

/** The version the view is judged by: detected (or its typed override), typed, or assumed from the file's generation. */
function versionOf(facts: InstanceFacts, doc: RuntimeDocument | null): NodeVersion {
  if (facts.nodeVersion) return facts.nodeVersion;
  if (facts.ganetiVersion) return { version: facts.ganetiVersion, source: "typed", from: "the node's settings (ganetiVersion)" };
  const gen = doc?.generation ?? "C";
  return { version: assumedReaderVersion(gen), source: "assumed", from: `the runtime file's generation ${gen} (the node's version was not read)` };
}

function reservation(facts: InstanceFacts, doc: RuntimeDocument | null, v: NodeVersion): { count: number; note: string } {
  const version = v.version;
  // Ganeti's hotplug reads the runtime file's value; a file without one gets what the configuration says at start.
  const hv = doc?.runtime.hvparams.kvm_pci_reservations ?? facts.ganeti?.hvparams?.kvm_pci_reservations;
  const r = pciReservations(version, typeof hv === "number" ? hv : null);
  if (r.ok) {
    const assumed = v.source === "assumed" ? ` (Ganeti ${version} assumed from the runtime file; set the node's version to be exact)` : "";
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
  const version = versionOf(facts, doc);
  const { count: reservedCount, note: reservationNote } = reservation(facts, doc, version);
  const live = facts.live;
  const config = facts.ganeti?.config;
  const configUuids = config?.state === "known" ? new Set([...config.instance.nics, ...config.instance.disks].flatMap((d) => (d.uuid ? [d.uuid] : []))) : null;

  const fileSlots: FilePciSlot[] = [];
  const fileTargets: FileScsiTarget[] = [];
  const devices: DeviceView[] = [];
  const place = (kind: "nic" | "disk", index: number, hv: Hvinfo | undefined, base: Partial<DeviceView>, blocker: string | null) => {
    const view: DeviceView = { kind, index, bus: "none", live: live ? false : null, ...base };
    if (blocker) view.removeBlocker = blocker;
    if (config) view.config = config.state === "unknown" ? null : base.uuid !== undefined && configUuids !== null && configUuids.has(base.uuid);
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

  const pinned = doc ? pinnedPciDevices(doc.runtime.kvmCmd) : [];
  for (const p of pinned) fileSlots.push({ slot: p.slot, deviceId: p.id });

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
  const fileDevices: FileDevice[] | null = doc
    ? devices.map((d) => ({
        kind: d.kind,
        ...(d.uuid ? { uuid: d.uuid } : {}),
        ...(d.id ? { id: d.id } : {}),
        ...(d.mac ? { mac: d.mac } : {}),
        ...(d.slot !== undefined ? { slot: d.slot } : {}),
        ...(d.scsiId !== undefined ? { scsiId: d.scsiId } : {}),
      }))
    : null;
  const threeWay = threeWayDevices({
    config: config ?? { state: "unknown", why: "the node belongs to no Ganeti cluster the app knows (no ssconf)" },
    file: fileDevices,
    live: live ? { pci: live.pci, scsi: live.scsi } : null,
    // The SCSI controller and devices kvm_cmd pins are Ganeti's own, not NICs or disks.
    otherLiveIds: new Set(["scsi", ...pinned.map((p) => p.id)]),
    reservedCount,
  });
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
    ganetiVersion: version,
    ...(facts.ganeti
      ? {
          ganeti: {
            cluster: facts.ganeti.cluster,
            config: facts.ganeti.config.state,
            ...(facts.ganeti.config.state === "unknown" ? { configNote: facts.ganeti.config.why } : {}),
            ...(facts.ganeti.config.state === "absent" ? { configNote: `Ganeti's configuration of cluster ${facts.ganeti.cluster} has no instance ${facts.name}.` } : {}),
            ...(facts.ganeti.primaryNode ? { primaryNode: facts.ganeti.primaryNode } : {}),
          },
        }
      : {}),
    threeWay,
  };
}
