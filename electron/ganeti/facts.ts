// What a change needs to know of Ganeti to decide its way (shared/hotplug/
// ganeti-change.ts): whether Ganeti's configuration can be changed from
// here (the master reached through the configured nodes), and the
// instance's NICs and disks in it. A change that acts on a NIC asks the
// master itself (its answer is the configuration as it is now); an add
// takes the cluster's facts the node's Ganeti files gave, when they know
// the instance.
import type { ChangeRequest, GanetiFacts } from "../../shared/hotplug/index.js";
import type { NodeGanetiContext } from "../inventory/node-inventory.js";
import { ganetiDisks, ganetiNicDetails, ganetiNics } from "./config-jobs.js";
import type { GanetiGuard } from "./guard.js";

/** The Ganeti stage of a change as opened: the guard (absent off a cluster), or why it could not be opened. */
export type OpenedStage = { guard?: GanetiGuard; error?: Error; consulted: boolean };

export async function ganetiFactsFor(stage: OpenedStage, cluster: NodeGanetiContext | undefined, instance: string, request: ChangeRequest): Promise<GanetiFacts> {
  if (!stage.consulted) return { kind: "none", why: "Ganeti's configuration is not consulted for this change: the live bus and the runtime file are what it changes." };
  if (stage.error) return { kind: "unreachable", why: `the node's cluster could not be read (${stage.error.message}).` };
  const guard = stage.guard;
  if (!guard) return { kind: "none", why: "the node belongs to no Ganeti cluster: the live bus and the runtime file are what this change changes." };
  const master = guard.masterAccess;
  if (!master) return { kind: "unreachable", why: guard.report.reason ?? "its master cannot be reached." };
  const facts = cluster?.instance?.(instance);
  // A repair: what Ganeti's configuration has now decides which repair applies, so ask the master (with each NIC's MAC, mode and link).
  if (request.action === "repair") {
    if (request.runtimeOnly === true) return { kind: "none", why: "the repair was asked runtime only: Ganeti's configuration is not consulted." };
    const disks = facts?.config.state === "known" ? facts.config.instance.disks : null;
    try {
      const nics = await ganetiNicDetails(master.session, instance);
      return { kind: "reachable", master: master.name, config: { nics: nics.map((n) => ({ ...n, ...(n.link === "" ? { link: undefined } : {}) })), disks } };
    } catch (err) {
      const msg = (err as Error).message;
      if (/unknown_entity|not found|does not exist/i.test(msg)) return { kind: "reachable", master: master.name, config: null };
      return { kind: "unreachable", why: `Ganeti's configuration of ${instance} could not be read on ${master.name}: ${msg}` };
    }
  }
  const known = facts?.config.state === "known" ? facts.config.instance : undefined;
  // A disk Ganeti would create, or a disk removal: its template and disks as they are now decide the way (and the new disk's index).
  const actsOnDisk = (request.action === "add-disk" && request.path === undefined && request.runtimeOnly !== true) || (request.action === "remove" && request.kind === "disk");
  if (actsOnDisk) {
    try {
      const d = await ganetiDisks(master.session, instance);
      return { kind: "reachable", master: master.name, config: { nics: known?.nics ?? [], disks: d.uuids.map((uuid) => ({ uuid })), diskTemplate: d.template } };
    } catch (err) {
      const msg = (err as Error).message;
      if (/unknown_entity|not found|does not exist/i.test(msg)) return { kind: "reachable", master: master.name, config: null };
      return { kind: "unreachable", why: `Ganeti's configuration of ${instance} could not be read on ${master.name}: ${msg}` };
    }
  }
  // Acting on a NIC: which NICs Ganeti has decides the way, so ask the master for them as they are now (not when "runtime only" decided it).
  const actsOnNic = request.runtimeOnly !== true && (request.action === "modify-nic" || request.action === "move-nic" || (request.action === "remove" && request.kind === "nic"));
  if (known && !actsOnNic) return { kind: "reachable", master: master.name, config: { nics: known.nics, disks: known.disks } };
  if (facts?.config.state === "absent" && !actsOnNic) return { kind: "reachable", master: master.name, config: null };
  // Runtime only, chosen for a NIC or a new disk: its way does not depend on what Ganeti has.
  if (request.runtimeOnly === true) return { kind: "reachable", master: master.name, config: { nics: [], disks: null } };
  try {
    const nics = await ganetiNics(master.session, instance);
    return { kind: "reachable", master: master.name, config: { nics, disks: known?.disks ?? null } };
  } catch (err) {
    const msg = (err as Error).message;
    // Ganeti says the instance is not one of its own ("error type: unknown_entity … Instance name X not found").
    if (/unknown_entity|not found|does not exist/i.test(msg)) return { kind: "reachable", master: master.name, config: null };
    return { kind: "unreachable", why: `Ganeti's configuration of ${instance} could not be read on ${master.name}: ${msg}` };
  }
}
