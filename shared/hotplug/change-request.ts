/**
 * A change as someone asks for it (the UI's review dialog, the CLI), before
 * the app fills in what the asker may leave out: new device ids, a MAC, the
 * bridge. Completing it turns it into the planner's intents: one for most
 * changes, several for a change made of steps (moving a NIC is Ganeti's
 * remove, then add). Both the app and the CLI ask in this one form.
 */
import { z } from "zod";
import type { Nic } from "../runtime";
import {
  DeviceRefSchema,
  LinkSchema,
  type AddNicIntentSchema,
  MacSchema,
  NicModeSchema,
  NicModelSchema,
  NodePathSchema,
  RepairKindSchema,
  ScsiIdSchema,
  SlotSchema,
  UuidSchema,
  VlanSchema,
  type HotplugIntentInput,
} from "./intent";
import type { InstanceSnapshot } from "./instance-snapshot";
import type { Refusal, RefusalCode } from "./planner";

/**
 * Keep the change out of Ganeti's configuration, where it would otherwise
 * go through Ganeti (or be recorded there first): live bus and runtime file
 * only. Without a reachable master there is no other way anyway.
 */
const runtimeOnly = z.boolean({ error: "runtimeOnly: expected true or false" }).optional();

export const ChangeRequestSchema = z.discriminatedUnion("action", [
  z.strictObject({
    action: z.literal("add-nic"),
    slot: SlotSchema.optional(),
    mac: MacSchema.optional(),
    /** Default: the link of the instance's first NIC that has one (defaultLink). */
    link: LinkSchema.optional(),
    mode: NicModeSchema.optional(),
    vlan: VlanSchema.optional(),
    model: NicModelSchema.optional(),
    /** Default: a new uuid (runtime only); recorded in Ganeti's configuration first, the NIC takes the uuid Ganeti gives it. */
    uuid: UuidSchema.optional(),
    runtimeOnly,
  }),
  z.strictObject({
    action: z.literal("add-disk"),
    /** A file or block device of your own: runtime only. Without it, where the master is reachable, Ganeti creates a disk of sizeMiB and records it first. */
    path: NodePathSchema.optional(),
    bus: z.enum(["pci", "scsi"], { error: 'expected bus "pci" (virtio-blk) or "scsi" (on scsi.0)' }),
    slot: SlotSchema.optional(),
    scsiId: ScsiIdSchema.optional(),
    sizeMiB: z.int({ error: "expected the size in MiB (integer)" }).min(0, { error: "expected a size in MiB >= 0" }).optional(),
    uuid: UuidSchema.optional(),
    runtimeOnly,
  }),
  z.strictObject({
    action: z.literal("remove"),
    kind: z.enum(["nic", "disk"], { error: 'expected kind "nic" or "disk"' }),
    ref: DeviceRefSchema,
    runtimeOnly,
    /** A disk Ganeti knows is removed through Ganeti, which deletes its storage: only when this says so. */
    deleteStorage: z.boolean({ error: "deleteStorage: expected true or false" }).optional(),
  }),
  z.strictObject({ action: z.literal("modify-nic"), ref: DeviceRefSchema, mac: MacSchema.optional(), link: LinkSchema.optional(), runtimeOnly }),
  /** Move a NIC to another slot: Ganeti's remove + add, keeping its uuid, MAC, link, mode and vlan. */
  z.strictObject({ action: z.literal("move-nic"), ref: DeviceRefSchema, slot: SlotSchema, runtimeOnly }),
  /**
   * Repair a drift of one device among Ganeti's configuration, the runtime
   * file and the live bus (shared/hotplug/repair.ts). `ref`: its uuid, or the
   * QEMU id it runs with. record of a NIC only on the live bus takes its MAC
   * and link (the live bus does not tell them); plug may take a slot.
   */
  z.strictObject({ action: z.literal("repair"), repair: RepairKindSchema, ref: DeviceRefSchema, mac: MacSchema.optional(), link: LinkSchema.optional(), slot: SlotSchema.optional(), runtimeOnly }),
]);
export type ChangeRequest = z.infer<typeof ChangeRequestSchema>;
/** What callers write before validation (slots may still be hex strings). */
export type ChangeRequestInput = z.input<typeof ChangeRequestSchema>;

/** A refusal of a change: the planner's, or one found before planning. */
export type ChangeRefusalCode = RefusalCode | "runtime-unreadable" | "locked" | "ganeti-busy" | "ganeti-uuid" | "ganeti-disk";
export interface ChangeRefusal extends Omit<Refusal, "code"> {
  code: ChangeRefusalCode;
}

const hex = (slot: number) => `0x${slot.toString(16).padStart(2, "0")}`;

/** One line for people: what the change does ("Add a NIC to web1 at slot 0x10"). */
export function describeChange(r: ChangeRequest, instance: string): string {
  switch (r.action) {
    case "add-nic":
      return `Add a NIC to ${instance}${r.slot !== undefined ? ` at slot ${hex(r.slot)}` : ""}`;
    case "add-disk":
      return `Add ${r.path !== undefined ? `disk ${r.path}` : `a ${r.sizeMiB ?? "?"} MiB disk`} to ${instance} on ${r.bus === "pci" ? "PCI" : "SCSI"}${r.slot !== undefined ? ` at slot ${hex(r.slot)}` : r.scsiId !== undefined ? ` at target ${r.scsiId}` : ""}`;
    case "remove":
      return `Unplug ${r.kind} ${r.ref} from ${instance}`;
    case "modify-nic":
      return `Change NIC ${r.ref} of ${instance}`;
    case "move-nic":
      return `Move NIC ${r.ref} of ${instance} to slot ${hex(r.slot)}`;
    case "repair":
      return `Repair ${r.ref} of ${instance}: ${r.repair}`;
  }
}

/** Whether planning needs the tap names Ganeti recorded (only when a NIC may leave the bus). */
export function needsNicTaps(r: ChangeRequest): boolean {
  return (r.action === "remove" && r.kind === "nic") || r.action === "modify-nic" || r.action === "move-nic" || r.action === "repair";
}

/** The disk paths a change adds: each is judged on the node before planning. */
export function diskPathsOf(r: ChangeRequest): string[] {
  return r.action === "add-disk" && r.path !== undefined ? [r.path] : [];
}

/**
 * The one default-link rule: a new NIC joins the link of the instance's
 * first NIC that has one (NICs without a link, e.g. routed ones, are passed
 * over). Undefined when no NIC has a link.
 */
export function defaultLink(nics: readonly Nic[]): string | undefined {
  return nics.find((n) => typeof n.nicparams?.link === "string" && n.nicparams.link !== "")?.nicparams?.link;
}

/** Identities for new devices: made by the caller (randomness stays out of shared/). */
export interface NewIds {
  uuid(): string;
  mac(): string;
}

type AddNicIntentInput = z.input<typeof AddNicIntentSchema>;

export type CompletedChange = { ok: true; intents: HotplugIntentInput[] } | { ok: false; refusals: ChangeRefusal[] };

/** The planner's intents for a request, with ids, MAC and link filled in from the instance. */
export function completeChange(r: ChangeRequest, instance: InstanceSnapshot, ids: NewIds): CompletedChange {
  const nics = instance.runtime.runtime.nics;
  const refuse = (code: ChangeRefusalCode, message: string): CompletedChange => ({ ok: false, refusals: [{ code, message }] });
  switch (r.action) {
    case "add-nic": {
      const mode = r.mode ?? "bridged";
      // A routed NIC needs no link; any other takes the default when none is given.
      const link = r.link ?? (mode === "routed" ? undefined : defaultLink(nics));
      if (link === undefined && mode !== "routed") {
        return refuse("invalid-intent", `${instance.name} has no NIC to copy a link from: say which bridge the new NIC joins (link), e.g. br0.`);
      }
      const { action: _a, uuid, mac, runtimeOnly: _r, ...rest } = r;
      return { ok: true, intents: [{ action: "add-nic", ...rest, uuid: uuid ?? ids.uuid(), mac: mac ?? ids.mac(), ...(link !== undefined ? { link } : {}) }] };
    }
    case "add-disk": {
      const { uuid, runtimeOnly: _r, path, ...rest } = r;
      if (path === undefined) {
        return refuse("invalid-intent", `A disk added runtime only needs its path on the node (path, e.g. /srv/disks/data.img): only Ganeti creates a disk from a size, and ${instance.name}'s change does not go through Ganeti.`);
      }
      return { ok: true, intents: [{ ...rest, path, uuid: uuid ?? ids.uuid() }] };
    }
    case "remove": {
      const { runtimeOnly: _r, deleteStorage: _d, ...intent } = r;
      return { ok: true, intents: [intent] };
    }
    case "modify-nic": {
      const { runtimeOnly: _r, ...intent } = r;
      return { ok: true, intents: [intent] };
    }
    case "repair":
      // Repairs are completed with what Ganeti's configuration has (recordChange, shared/hotplug/repair.ts).
      return refuse("invalid-intent", `A repair of ${r.ref} is completed with Ganeti's configuration in view: this is a bug in the caller.`);
    case "move-nic": {
      // Ganeti has no "move": unplug, then plug the same NIC (uuid, MAC, link, mode, vlan) at the new slot.
      const nic = nics.find((n) => n.uuid === r.ref || n.hvinfo?.id === r.ref);
      if (!nic || !nic.uuid || !nic.mac) return refuse("unknown-ref", `No NIC ${r.ref} with a uuid and MAC in the runtime file of ${instance.name}.`);
      const np = nic.nicparams ?? {};
      return {
        ok: true,
        intents: [
          { action: "remove", kind: "nic", ref: r.ref },
          {
            action: "add-nic",
            uuid: nic.uuid,
            mac: nic.mac,
            ...(np.link ? { link: np.link } : {}),
            // Checked by the planner like any intent: a mode it does not know is refused there.
            ...(np.mode !== undefined ? { mode: np.mode as AddNicIntentInput["mode"] } : {}),
            ...(np.vlan ? { vlan: np.vlan } : {}),
            slot: r.slot,
          },
        ],
      };
    }
  }
}
