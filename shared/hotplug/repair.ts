/**
 * A repair for every drift among the three sources (Ganeti's configuration,
 * the runtime file, the live bus; shared/inventory/three-way.ts): which
 * repairs apply to which combination, and a repair request completed into
 * the planner's intents with what it means (a Recording). Each goes through
 * the same review and Apply path as any change.
 *
 * - file and live, not in the configuration → adopt (a NIC: Ganeti records
 *   it with the same MAC and link, then it is re-plugged at the same slot
 *   under the id Ganeti derives from the uuid it gave);
 * - live only → record it in the runtime file (a NIC, with the MAC and link
 *   given), or unplug it;
 * - configuration and live, not in the file → record it (from Ganeti's
 *   configuration), or unplug it;
 * - in the file, not live (with or without the configuration) → replug it at
 *   its recorded slot, or forget it (drop it from the file);
 * - only in the configuration → plug it (a NIC, at a free or chosen slot,
 *   under Ganeti's id), or unrecord it (drop it from the configuration).
 */
import { combinationOf, describePresence, type Combination, type Presence } from "../inventory/three-way";
import { deviceIdV2, findDeviceById, findDeviceByUuid, hvinfoSlot, isPciHvinfo, parseDeviceId } from "../runtime";
import type { ChangeRefusal, ChangeRequest, NewIds } from "./change-request";
import { provisionalUuid } from "./ganeti-uuid";
import { NIC_TYPES, type HotplugIntentInput, type RepairKind } from "./intent";
import type { InstanceSnapshot } from "./instance-snapshot";
import type { Recording } from "./recording";

export type RepairRequest = Extract<ChangeRequest, { action: "repair" }>;

/** One repair as offered for a device: what it is called and what it does. */
export interface RepairOffer {
  repair: RepairKind;
  /** A button's words ("Adopt into Ganeti"). */
  label: string;
  /** What it does and what follows, for people. */
  does: string;
}

const OFFERS: Record<RepairKind, Omit<RepairOffer, "repair">> = {
  adopt: {
    label: "Adopt into Ganeti",
    does: "Ganeti records the NIC (same MAC and link) and it is re-plugged at the same slot under the id Ganeti derives: the guest loses its link for a moment; then Ganeti keeps it through a shutdown/startup and can remove it itself.",
  },
  record: { label: "Record in the runtime file", does: "The runtime file gets the device at its live slot under its live id: a soft reboot and a migration then keep it." },
  unplug: { label: "Unplug", does: "The guest is asked to release the device; the runtime file is left as it is." },
  replug: { label: "Plug back", does: "The device is plugged live again at the slot and under the id the runtime file records; the file is left as it is." },
  forget: { label: "Drop from the runtime file", does: "The device leaves the runtime file (and Ganeti's nic file): a soft reboot or a migration no longer brings it back." },
  plug: { label: "Plug it live", does: "The NIC Ganeti's configuration has is hot-added (at a free slot, or the one given) under the id Ganeti derives from its uuid, and recorded in the runtime file." },
  unrecord: { label: "Drop from Ganeti's configuration", does: "Ganeti removes the NIC from its configuration only (nothing live changes): a shutdown/startup no longer adds it." },
};

/** The repairs for each combination, NICs and disks; an empty list: nothing to repair (or nothing this app can). */
const BY_COMBINATION: Record<Combination, { nic: RepairKind[]; disk: RepairKind[] }> = {
  "all-three": { nic: [], disk: [] },
  "file-and-live": { nic: ["adopt"], disk: [] },
  "config-and-file": { nic: ["replug", "forget"], disk: ["replug", "forget"] },
  "config-and-live": { nic: ["record", "unplug"], disk: ["unplug"] },
  "config-only": { nic: ["plug", "unrecord"], disk: [] },
  "file-only": { nic: ["replug", "forget"], disk: ["replug", "forget"] },
  "live-only": { nic: ["record", "unplug"], disk: ["unplug"] },
};

/**
 * The repairs that apply to a device as the three sources see it. Where a
 * source was not read, what depends on it is not offered: adopt, plug and
 * unrecord need Ganeti's configuration read; every repair needs the live bus
 * read (it decides what is live).
 */
export function repairsFor(d: { kind: "nic" | "disk" | null; where: Presence; combination?: Combination }): RepairOffer[] {
  if (d.kind === null || d.where.live === null) return [];
  const combination = d.combination ?? combinationOf(d.where);
  // File and live with the configuration unread is not known to be a drift.
  if (d.where.config === null && (combination === "file-and-live" || combination === "config-only")) return [];
  return BY_COMBINATION[combination][d.kind].map((repair) => ({ repair, ...OFFERS[repair] }));
}

/** A NIC in Ganeti's configuration, as far as the change path knows it. */
export interface ConfigNic {
  uuid?: string | null | undefined;
  mac?: string | undefined;
  link?: string | undefined;
  mode?: string | undefined;
  vlan?: string | undefined;
}

/** What a repair knows of Ganeti: its master (null: its configuration cannot be changed from here, and why) and the instance's devices there (null: not read). */
export interface RepairGaneti {
  master: string | null;
  why: string;
  config: { nics: readonly ConfigNic[]; disks: readonly { uuid?: string | null | undefined }[] | null } | null;
}

export type CompletedRepair = { ok: true; intents: HotplugIntentInput[]; recording: Recording } | { ok: false; refusals: ChangeRefusal[] };

const MODES = ["bridged", "openvswitch", "routed"] as const;
type Mode = (typeof MODES)[number];
const modeOf = (m: string | undefined): Mode | undefined => MODES.find((x) => x === m);

/** The nic_type a running driver stands for (the add-nic intent's model). */
function modelOf(driver: string | undefined): (typeof NIC_TYPES)[number] | undefined {
  if (driver === "virtio-net-pci") return "paravirtual";
  return NIC_TYPES.find((t) => t === driver);
}

interface Located {
  kind: "nic" | "disk" | null;
  uuid?: string;
  /** The QEMU id: the file's, the live bus's, or the one Ganeti derives. */
  id?: string;
  where: Presence;
  fileRef?: ReturnType<typeof findDeviceById>;
  configNic?: ConfigNic;
  liveSlot?: number;
}

/** The device `ref` names, as each source has it. */
function locate(ref: string, instance: InstanceSnapshot, ganeti: RepairGaneti): Located | undefined {
  const rt = instance.runtime.runtime;
  const fileRef = findDeviceByUuid(rt, ref) ?? findDeviceById(rt, ref);
  const fileDev = fileRef ? (fileRef.kind === "nic" ? fileRef.nic : fileRef.entry.disk) : undefined;
  const config = ganeti.config;
  let uuid = fileDev?.uuid ?? undefined;
  let kind: "nic" | "disk" | null = fileRef?.kind ?? null;
  let configNic: ConfigNic | undefined;
  let inConfig: boolean | null = config === null ? null : false;
  if (config) {
    const wanted = uuid ?? ref;
    configNic = config.nics.find((n) => n.uuid === wanted);
    const configDisk = config.disks?.find((d) => d.uuid === wanted);
    if (configNic || configDisk) {
      inConfig = true;
      uuid = wanted;
      kind ??= configNic ? "nic" : "disk";
    }
  }
  const livePci = instance.livePci;
  const liveScsi = instance.liveScsi ?? null;
  const candidates = [fileDev?.hvinfo?.id, ...(uuid && kind ? [deviceIdV2(kind, uuid)] : []), ref].filter((x): x is string => typeof x === "string");
  const onPci = livePci?.find((d) => d.function === 0 && candidates.includes(d.qdevId));
  const onScsi = liveScsi?.find((t) => candidates.includes(t.qdevId));
  const live = livePci === null ? null : onPci !== undefined || onScsi !== undefined;
  const id = fileDev?.hvinfo?.id ?? onPci?.qdevId ?? onScsi?.qdevId ?? (uuid && kind ? deviceIdV2(kind, uuid) : undefined);
  if (!fileRef && !inConfig && !live) return undefined;
  kind ??= id ? (parseDeviceId(id)?.kind ?? null) : null;
  return {
    kind,
    ...(uuid ? { uuid } : {}),
    ...(id ? { id } : {}),
    where: { config: inConfig, file: fileRef !== undefined, live },
    ...(fileRef ? { fileRef } : {}),
    ...(configNic ? { configNic } : {}),
    ...(onPci ? { liveSlot: onPci.slot } : {}),
  };
}

/** The repair completed into the planner's intents, with what it means; refused where it does not apply or cannot be done. */
export function completeRepair(r: RepairRequest, instance: InstanceSnapshot, ids: NewIds, ganeti: RepairGaneti): CompletedRepair {
  const name = instance.name;
  const refuse = (message: string, code: ChangeRefusal["code"] = "invalid-intent"): CompletedRepair => ({ ok: false, refusals: [{ code, message }] });
  const d = locate(r.ref, instance, ganeti);
  if (!d) {
    return refuse(
      `${r.ref}: no device of ${name} by that uuid or id in its runtime file, on its live bus${ganeti.config ? " or in Ganeti's configuration" : ` (Ganeti's configuration was not read: ${ganeti.why})`}. Reload the instance and pick a device from its three-way table.`,
      "unknown-ref",
    );
  }
  const what = `${d.kind ?? "device"} ${d.id ?? d.uuid ?? r.ref}`;
  const presence = describePresence(d.where, true);
  const offered = repairsFor(d).map((o) => o.repair);
  if (!offered.includes(r.repair)) {
    const needsConfig = r.repair === "adopt" || r.repair === "plug" || r.repair === "unrecord";
    const why =
      d.where.live === null
        ? "the live bus could not be read (is the instance running, its QMP socket free?)"
        : needsConfig && d.where.config === null
          ? `Ganeti's configuration was not read (${ganeti.why})`
          : `it is ${presence.label} (${presence.consequence})`;
    return refuse(`${r.repair} does not apply to ${what} of ${name}: ${why}. ${offered.length ? `What applies: ${offered.join(", ")}.` : "Nothing here repairs it."}`);
  }
  const needMaster = (): string | undefined => (ganeti.master && r.runtimeOnly !== true ? ganeti.master : undefined);
  const fileNic = d.fileRef?.kind === "nic" ? d.fileRef.nic : undefined;
  const ref = d.id ?? d.uuid ?? r.ref;

  switch (r.repair) {
    case "adopt": {
      const master = needMaster();
      if (!master) return refuse(`Adopting ${what} records it in Ganeti's configuration, which cannot be changed from here: ${r.runtimeOnly ? "the repair was asked runtime only" : ganeti.why}.`, "ganeti-busy");
      const nic = fileNic;
      const h = nic?.hvinfo;
      if (!nic || !nic.mac || !isPciHvinfo(h) || typeof h.id !== "string") {
        return refuse(`${what} of ${name} has no MAC, slot or id in its runtime file, so it cannot be re-plugged where it is: remove it and add a NIC anew (configuration first).`, "not-removable");
      }
      const np = nic.nicparams ?? {};
      const mode = modeOf(np.mode) ?? "bridged";
      if (mode !== "routed" && !np.link) return refuse(`${what} of ${name} has no link in its runtime file: Ganeti needs one to record it. Remove it and add a NIC anew.`, "not-removable");
      const slot = hvinfoSlot(h);
      const uuid = provisionalUuid(instance.runtime.sourceText, ids.uuid);
      const model = modelOf(h.driver);
      const intents: HotplugIntentInput[] = [
        { action: "ganeti-nic", op: "add", uuid, mac: nic.mac, ...(np.link ? { link: np.link } : {}), mode, ...(np.vlan ? { vlan: np.vlan } : {}), master },
        { action: "remove", kind: "nic", ref: h.id, restoreOnUndo: true },
        { action: "add-nic", uuid, mac: nic.mac, ...(np.link ? { link: np.link } : {}), mode, ...(np.vlan ? { vlan: np.vlan } : {}), ...(model ? { model } : {}), slot },
      ];
      return {
        ok: true,
        intents,
        recording: {
          mode: "ganeti",
          note: `Adopt: Ganeti records the NIC (MAC ${nic.mac}${np.link ? `, link ${np.link}` : ""}) in its configuration on ${master}, without --hotplug, and gives it its uuid; then ${h.id} is unplugged and plugged back at the same slot under the QEMU id Ganeti derives from that uuid, with Ganeti's nic file and runtime entry. The guest loses this NIC's link for a moment (a second or so). After it Ganeti keeps the NIC through a shutdown/startup and can hot-remove it itself.`,
        },
      };
    }
    case "record": {
      if (d.liveSlot === undefined || !d.id) return refuse(`${what} of ${name} is not on pci.0: only NICs on PCI are recorded this way.`, "not-removable");
      const c = d.configNic;
      if (d.where.config === true && c) {
        const mode = modeOf(c.mode) ?? "bridged";
        if (!c.mac || !d.uuid) return refuse(`Ganeti's configuration has no MAC for ${what}: it cannot be recorded from it.`, "not-removable");
        if (mode !== "routed" && !c.link) return refuse(`Ganeti's configuration has no link for ${what} (as read here): give it with --link, or reload and try again.`, "invalid-intent");
        return {
          ok: true,
          intents: [{ action: "record-nic", id: d.id, uuid: d.uuid, mac: c.mac, ...(c.link ? { link: c.link } : {}), mode, ...(c.vlan ? { vlan: c.vlan } : {}) }],
          recording: { mode: "ganeti", note: `Recorded in the runtime file as Ganeti's configuration has it (uuid ${d.uuid}, MAC ${c.mac}): all three sources then agree; a soft reboot and a migration keep it, and Ganeti can hot-remove it.` },
        };
      }
      if (!r.mac) return refuse(`Recording ${what} needs its MAC and link (the live bus does not tell them): read them in the guest (ip link) and on the node (the tap's bridge), then give them (--mac, --link).`);
      if (!r.link) return refuse(`Recording ${what} needs its link (the bridge its tap is on; the live bus does not tell it): give it (--link), e.g. the instance's other NICs' bridge.`);
      return {
        ok: true,
        intents: [{ action: "record-nic", id: d.id, uuid: ids.uuid(), mac: r.mac, link: r.link }],
        recording: {
          mode: "runtime-only",
          note: `Recorded in the runtime file only (with a new uuid, the MAC and link as given): a soft reboot and a migration keep it; Ganeti's configuration still does not have it, so a shutdown/startup drops it (adopt it next to keep it there too).`,
        },
      };
    }
    case "unplug":
      return {
        ok: true,
        intents: [{ action: "unplug", id: ref }],
        recording:
          d.where.config === true
            ? { mode: "runtime-only", note: `Unplugged live only: Ganeti's configuration keeps ${what} and adds it back at the next shutdown/startup (drop it there with gnt-instance modify --net ${d.uuid ?? "UUID"}:remove ${name}).` }
            : { mode: "ganeti", note: `Unplugged: nothing records ${what}, so nothing else changes.` },
      };
    case "replug":
      return {
        ok: true,
        intents: [{ action: "replug", kind: d.kind ?? "nic", ref }],
        recording: {
          mode: d.where.config === true ? "ganeti" : "runtime-only",
          note:
            d.where.config === true
              ? `Plugged back as the runtime file records it: all three sources then agree.`
              : `Plugged back as the runtime file records it: live and file then agree; Ganeti's configuration still does not have it (adopt it next to keep it through a shutdown/startup).`,
        },
      };
    case "forget":
      return {
        ok: true,
        intents: [{ action: "forget", kind: d.kind ?? "nic", ref }],
        recording:
          d.where.config === true
            ? { mode: "runtime-only", note: `Dropped from the runtime file only: Ganeti's configuration keeps ${what}, so Ganeti adds it again at the next shutdown/startup (a soft reboot or a migration does not).` }
            : { mode: "ganeti", note: `Dropped from the runtime file: no source records ${what} any more.` },
      };
    case "plug": {
      const c = d.configNic;
      if (!c || !d.uuid || !c.mac) return refuse(`Ganeti's configuration has no MAC for ${what} (as read here): it cannot be plugged from it.`, "not-removable");
      const mode = modeOf(c.mode) ?? "bridged";
      if (mode !== "routed" && !c.link) return refuse(`Ganeti's configuration has no link for ${what} (as read here): reload and try again.`, "not-removable");
      return {
        ok: true,
        intents: [{ action: "add-nic", uuid: d.uuid, mac: c.mac, ...(c.link ? { link: c.link } : {}), mode, ...(c.vlan ? { vlan: c.vlan } : {}), ...(r.slot !== undefined ? { slot: r.slot } : {}) }],
        recording: { mode: "ganeti", note: `Plugged as Ganeti's configuration has it (uuid ${d.uuid}, MAC ${c.mac}) under the id Ganeti derives: all three sources then agree and Ganeti can hot-remove it.` },
      };
    }
    case "unrecord": {
      const master = needMaster();
      if (!master || !d.uuid) return refuse(`Dropping ${what} from Ganeti's configuration needs its master, which cannot be reached from here: ${r.runtimeOnly ? "the repair was asked runtime only" : ganeti.why}.`, "ganeti-busy");
      return {
        ok: true,
        intents: [{ action: "ganeti-nic", op: "remove", uuid: d.uuid, hotplug: false, master }],
        recording: { mode: "ganeti", note: `Ganeti removes NIC ${d.uuid} from its configuration on ${master} (without --hotplug; it is not live): a shutdown/startup no longer adds it.` },
      };
    }
  }
}
