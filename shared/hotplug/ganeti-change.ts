/**
 * Which way a change goes where Ganeti keeps a configuration (DESIGN.md,
 * "Ganeti in the loop"):
 * - a NIC add is recorded in Ganeti's configuration first (configuration
 *   only, on the master), then hot-added at the chosen slot under the QEMU
 *   id Ganeti derives from the uuid it gave;
 * - a disk add of a size (no path) likewise, where Ganeti creates the
 *   storage (file and sharedfile templates): Ganeti creates and records it,
 *   then it is hot-added from its instance-disks link; a disk from a path of
 *   one's own stays runtime only (Ganeti never knows it);
 * - removing a disk Ganeti knows goes through Ganeti, which deletes its
 *   storage: only when the user says so (deleteStorage), else refused,
 *   naming that and the runtime-only way;
 * - removing or changing a NIC Ganeti knows goes through Ganeti's own
 *   hotplug, so its configuration stays right;
 * - everything else, and every change where the master cannot be reached or
 *   the user chose it, is runtime only: the live bus and the runtime file.
 * Each change says which, why and what follows (a Recording), and where
 * "runtime only" may be chosen, what that means.
 */
import { findDeviceById, findDeviceByUuid } from "../runtime";
import { completeChange, type ChangeRefusal, type ChangeRequest, type NewIds } from "./change-request";
import { instanceDiskLink } from "../ganeti/config-change";
import { provisionalDiskPath, provisionalUuid } from "./ganeti-uuid";
import type { HotplugIntentInput } from "./intent";
import type { InstanceSnapshot } from "./instance-snapshot";
import type { Recording } from "./recording";
import { completeRepair, type ConfigNic, type RepairGaneti } from "./repair";

/** What the change path knows of Ganeti for this instance. */
export type GanetiFacts =
  /** No configuration to keep: the node belongs to no cluster, or none was looked for. */
  | { kind: "none"; why: string }
  /** A cluster whose configuration cannot be changed from here. */
  | { kind: "unreachable"; why: string }
  | {
      kind: "reachable";
      master: string;
      /** The instance's devices in Ganeti's configuration; null: the instance is not in it. */
      config: {
        nics: readonly ConfigNic[];
        disks: readonly { uuid?: string | null | undefined }[] | null;
        /** The instance's disk template (decides whether Ganeti can create a disk). */
        diskTemplate?: string;
      } | null;
    };

export type RecordedChange = { ok: true; intents: HotplugIntentInput[]; recording: Recording } | { ok: false; refusals: ChangeRefusal[] };

const RUNTIME_ONLY = {
  add: "Runtime only: Ganeti's configuration will not know this device; it is dropped at the next shutdown/startup.",
  pathDisk:
    "Runtime only: a disk from a path of your own stays out of Ganeti's configuration: gnt-instance info never lists it, Ganeti cannot remove it, and it is dropped at the next shutdown/startup (the file or device itself stays). For a disk Ganeti knows, give a size instead of a path: Ganeti creates its storage.",
  removeKnownDisk:
    "Runtime only: the disk leaves the live bus and the runtime file; Ganeti's configuration keeps it and its storage (nothing is deleted), and Ganeti adds it back at the next shutdown/startup.",
  removeKnown: "Runtime only: the NIC leaves the live bus and the runtime file, but Ganeti's configuration keeps it: Ganeti adds it back at the next shutdown/startup.",
  modifyKnown: "Runtime only: the NIC is changed live and in the runtime file; Ganeti's configuration keeps its old settings and uses them at the next shutdown/startup.",
};

/** What a runtime-only change means for people, by what it does. */
function runtimeOnlyWords(r: ChangeRequest): string {
  switch (r.action) {
    case "add-nic":
    case "add-disk":
      return RUNTIME_ONLY.add;
    case "remove":
      return "Runtime only: the device leaves the live bus and the runtime file; if Ganeti's configuration has it, Ganeti adds it back at the next shutdown/startup.";
    case "modify-nic":
      return "Runtime only: the NIC is changed live and in the runtime file; if Ganeti's configuration has it, Ganeti uses its old settings at the next shutdown/startup.";
    case "move-nic":
      return "Runtime only: the NIC moves on the live bus and in the runtime file; at the next shutdown/startup Ganeti starts the NICs its configuration has at slots it picks.";
    case "repair":
      return "Runtime only: Ganeti's configuration is not changed.";
  }
}

/** What a repair knows of Ganeti, from the change path's facts. */
function repairGaneti(g: GanetiFacts): RepairGaneti {
  if (g.kind === "reachable") {
    return g.config === null
      ? { master: g.master, why: `the instance is not in Ganeti's configuration (as its master ${g.master} has it)`, config: { nics: [], disks: [] } }
      : { master: g.master, why: "", config: g.config };
  }
  return { master: null, why: g.why, config: null };
}

const hex = (slot: number) => `0x${slot.toString(16).padStart(2, "0")}`;

/** Templates whose disks Ganeti creates as files on a config-only add, which this app then hot-adds from their link. */
const CREATES_FILES = ["file", "sharedfile"] as const;
type FileTemplate = (typeof CREATES_FILES)[number];
const createsFiles = (t: string | undefined): t is FileTemplate => (CREATES_FILES as readonly string[]).includes(t ?? "");

/** Why Ganeti cannot create a disk for this instance here, in words naming the way that remains. */
function noCreatedDisk(name: string, template: string | undefined): string {
  if (template === "diskless") {
    return `${name} is diskless: Ganeti 3.0.2 refuses to add a disk to a diskless instance without a storage type ("Must specify disk type on diskless instance"), and this app does not choose one for it. Add a disk from a path of your own (runtime only: path / --path), or give ${name} a disk template first.`;
  }
  if (template === undefined) return `Ganeti's disk template of ${name} is not known here, so the app cannot tell whether Ganeti would create the disk: try again, or add a disk from a path of your own (runtime only: path / --path).`;
  return `${name} has disk template ${template}: this app records disks first only where Ganeti creates them as files (${CREATES_FILES.join(", ")}). Use Ganeti's own hotplug (gnt-instance modify --hotplug --disk add:size=…M ${name}; it picks the slot), or a path of your own (runtime only: path / --path).`;
}

/** The runtime path: the request completed as without Ganeti, with its recording. */
function runtimePath(r: ChangeRequest, instance: InstanceSnapshot, ids: NewIds, recording: Recording): RecordedChange {
  const c = completeChange(r, instance, ids);
  return c.ok ? { ok: true, intents: c.intents, recording } : c;
}

/** The uuid of the device `ref` names in the runtime file, if any. */
function uuidInFile(instance: InstanceSnapshot, ref: string): string | undefined {
  const rt = instance.runtime.runtime;
  const d = findDeviceByUuid(rt, ref) ?? findDeviceById(rt, ref);
  if (!d) return undefined;
  return d.kind === "nic" ? d.nic.uuid : d.entry.disk.uuid;
}

/** The request completed into the planner's intents, routed through Ganeti where it keeps the change, with what that means. */
export function recordChange(r: ChangeRequest, instance: InstanceSnapshot, ids: NewIds, ganeti: GanetiFacts): RecordedChange {
  const name = instance.name;
  if (r.action === "repair") return completeRepair(r, instance, ids, repairGaneti(ganeti));
  if (ganeti.kind === "none") return runtimePath(r, instance, ids, { mode: "runtime-only", note: `Runtime only: ${ganeti.why}` });
  if (ganeti.kind === "unreachable") {
    return runtimePath(r, instance, ids, { mode: "runtime-only", note: `${runtimeOnlyWords(r)} Ganeti's configuration cannot be changed from here: ${ganeti.why}` });
  }
  const chosen = r.runtimeOnly === true;
  // Chosen for a NIC or a new disk: our way, whatever Ganeti's configuration has (it needs not be asked).
  if (chosen && !(r.action === "remove" && r.kind === "disk")) {
    const words = runtimeOnlyWords(r);
    return runtimePath(r, instance, ids, { mode: "runtime-only", note: `${words} (chosen)`, runtimeOnlyMeans: words });
  }
  const { master, config } = ganeti;
  if (config === null) {
    return runtimePath(r, instance, ids, { mode: "runtime-only", note: `${runtimeOnlyWords(r)} ${name} is not in Ganeti's configuration (as its master ${master} has it).` });
  }
  const knownNic = (uuid: string | undefined) => uuid !== undefined && config.nics.some((n) => n.uuid === uuid);

  switch (r.action) {
    case "add-nic": {
      if (r.uuid !== undefined) {
        return {
          ok: false,
          refusals: [
            {
              code: "ganeti-uuid",
              message: `uuid ${r.uuid}: Ganeti gives the NIC its uuid when it records it in its configuration. Leave the uuid out, or make the change runtime only to choose it (then Ganeti's configuration will not know the NIC).`,
            },
          ],
        };
      }
      const c = completeChange(r, instance, ids);
      if (!c.ok) return c;
      const add = c.intents[0];
      if (!add || add.action !== "add-nic") return { ok: false, refusals: [{ code: "invalid-intent", message: "A NIC add completed to something else: this is a bug." }] };
      const uuid = provisionalUuid(instance.runtime.sourceText, ids.uuid);
      const record: HotplugIntentInput = {
        action: "ganeti-nic",
        op: "add",
        uuid,
        mac: add.mac,
        ...(add.link !== undefined ? { link: add.link } : {}),
        mode: add.mode ?? "bridged",
        ...(add.vlan !== undefined ? { vlan: add.vlan } : {}),
        master,
      };
      const where = add.slot !== undefined ? `at ${typeof add.slot === "number" ? hex(add.slot) : add.slot}` : "at the slot chosen";
      return {
        ok: true,
        intents: [record, { ...add, uuid }],
        recording: {
          mode: "ganeti",
          note: `Configuration first: Ganeti records the NIC (gnt-instance modify on ${master}, without --hotplug) and gives it its uuid; it is then hot-added ${where} under the QEMU id Ganeti derives from that uuid. Ganeti can later remove it and a migration carries it; a shutdown/startup brings it back at a slot Ganeti picks.`,
          runtimeOnlyMeans: RUNTIME_ONLY.add,
        },
      };
    }
    case "add-disk": {
      if (r.path !== undefined) return runtimePath(r, instance, ids, { mode: "runtime-only", note: RUNTIME_ONLY.pathDisk });
      const refuse = (message: string): RecordedChange => ({ ok: false, refusals: [{ code: "ganeti-disk", message }] });
      const template = config.diskTemplate;
      if (!createsFiles(template)) return refuse(noCreatedDisk(name, template));
      if (r.uuid !== undefined) return refuse(`uuid ${r.uuid}: Ganeti gives the disk its uuid when it records it. Leave the uuid out.`);
      if (r.sizeMiB === undefined || r.sizeMiB < 1) return refuse(`Ganeti creates the disk, so say how big: a size of at least 1 MiB (sizeMiB / --size-mib), or add a disk from a path of your own (runtime only).`);
      if (config.disks === null) return refuse(`The disks Ganeti's configuration has for ${name} are not known here, so the new disk's index (and its instance-disks link) cannot be told: try again.`);
      const uuid = provisionalUuid(instance.runtime.sourceText, ids.uuid);
      const index = config.disks.length;
      const where = r.bus === "scsi" ? (r.scsiId !== undefined ? `at SCSI target ${r.scsiId}` : "at the SCSI target chosen") : r.slot !== undefined ? `at ${hex(r.slot)}` : "at the slot chosen";
      return {
        ok: true,
        intents: [
          { action: "ganeti-disk", op: "add", uuid, sizeMiB: r.sizeMiB, index, master },
          {
            action: "add-disk",
            uuid,
            path: instanceDiskLink(name, index),
            bus: r.bus,
            ...(r.slot !== undefined ? { slot: r.slot } : {}),
            ...(r.scsiId !== undefined ? { scsiId: r.scsiId } : {}),
            sizeMiB: r.sizeMiB,
            recordedAs: { devType: template, index, storagePath: provisionalDiskPath(uuid) },
          },
        ],
        recording: {
          mode: "ganeti",
          note: `Configuration first: Ganeti creates a ${r.sizeMiB} MiB disk (${template} storage) and records it as disk/${index} (gnt-instance modify on ${master}, without --hotplug), giving it its uuid; it is then hot-added ${where} from its instance-disks link under the QEMU id Ganeti derives from that uuid. gnt-instance info lists it, Ganeti can later remove it (deleting its storage) and a migration carries it; a shutdown/startup brings it back where Ganeti puts disks.`,
        },
      };
    }
    case "remove": {
      const uuid = uuidInFile(instance, r.ref);
      if (r.kind === "disk") {
        const known = uuid !== undefined && (config.disks?.some((d) => d.uuid === uuid) ?? false);
        if (!known) {
          return runtimePath(r, instance, ids, { mode: "ganeti", note: "Ganeti's configuration does not have this disk: it leaves the live bus and the runtime file, and nothing changes in Ganeti's configuration." });
        }
        if (chosen) return runtimePath(r, instance, ids, { mode: "runtime-only", note: `${RUNTIME_ONLY.removeKnownDisk} (chosen)`, runtimeOnlyMeans: RUNTIME_ONLY.removeKnownDisk });
        if (r.deleteStorage !== true) {
          return {
            ok: false,
            refusals: [
              {
                code: "ganeti-disk",
                message: `Disk ${uuid} of ${name} is in Ganeti's configuration: removing it through Ganeti (its own hotplug) DELETES ITS STORAGE, and its data with it. Say so explicitly (deleteStorage / --delete-storage), or remove it runtime only (runtimeOnly / --runtime-only): it leaves the live bus and the runtime file, Ganeti keeps it and its storage and adds it back at the next shutdown/startup.`,
              },
            ],
          };
        }
        return {
          ok: true,
          intents: [{ action: "ganeti-disk", op: "remove", uuid: uuid as string, master }],
          recording: {
            mode: "ganeti",
            note: `Through Ganeti: its own hotplug (gnt-instance modify --hotplug on ${master}) unplugs the disk, removes it from the runtime file and from its configuration, and DELETES ITS STORAGE (chosen: delete storage).`,
            runtimeOnlyMeans: RUNTIME_ONLY.removeKnownDisk,
          },
        };
      }
      if (!knownNic(uuid)) {
        return runtimePath(r, instance, ids, { mode: "ganeti", note: "Ganeti's configuration does not have this NIC: it leaves the live bus and the runtime file, and nothing changes in Ganeti's configuration." });
      }
      return {
        ok: true,
        intents: [{ action: "ganeti-nic", op: "remove", uuid: uuid as string, hotplug: true, master }],
        recording: {
          mode: "ganeti",
          note: `Through Ganeti: its own hotplug (gnt-instance modify --hotplug on ${master}) unplugs the NIC and removes it from the runtime file and from its configuration.`,
          runtimeOnlyMeans: RUNTIME_ONLY.removeKnown,
        },
      };
    }
    case "modify-nic": {
      const uuid = uuidInFile(instance, r.ref);
      if (!knownNic(uuid)) {
        return runtimePath(r, instance, ids, { mode: "ganeti", note: "Ganeti's configuration does not have this NIC: it changes live and in the runtime file, and nothing changes in Ganeti's configuration." });
      }
      return {
        ok: true,
        intents: [{ action: "ganeti-nic", op: "modify", uuid: uuid as string, hotplug: true, ...(r.mac ? { mac: r.mac } : {}), ...(r.link ? { link: r.link } : {}), master }],
        recording: {
          mode: "ganeti",
          note: `Through Ganeti: its own hotplug (gnt-instance modify --hotplug on ${master}) unplugs the NIC, plugs it back at the same slot with the new settings and records them in its configuration.`,
          runtimeOnlyMeans: RUNTIME_ONLY.modifyKnown,
        },
      };
    }
    case "move-nic": {
      const known = knownNic(uuidInFile(instance, r.ref));
      return runtimePath(
        r,
        instance,
        ids,
        known
          ? { mode: "ganeti", note: "Ganeti's configuration is unchanged: the NIC keeps its uuid, MAC and link, so Ganeti still knows it; at the next shutdown/startup Ganeti starts it at a slot it picks." }
          : { mode: "runtime-only", note: `Runtime only: Ganeti's configuration does not have this NIC; it is dropped at the next shutdown/startup.` },
      );
    }
  }
}
