// What the inventory needs to know of an instance from its Ganeti cluster:
// Ganeti's configuration of it (or that there is none, or that it was not
// read) and its hvparams as that configuration fills them.
import type { ClusterModel } from "../ganeti/cluster";
import type { GanetiInstanceFacts } from "./facts";

export function ganetiFactsOf(model: ClusterModel, instance: string): GanetiInstanceFacts {
  if (model.instances === null) {
    const why = model.sources.config.read ? "" : model.sources.config.why;
    return { cluster: model.name, config: { state: "unknown", why: `Ganeti's configuration was not read: ${why}` } };
  }
  const inst = model.instances.find((i) => i.name === instance);
  if (!inst) return { cluster: model.name, config: { state: "absent" } };
  return { cluster: model.name, config: { state: "known", instance: inst }, hvparams: inst.effectiveHvparams, primaryNode: inst.primaryNode };
}
