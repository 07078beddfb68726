// The live PCI bus of a Ganeti lab instance as QEMU reports it (query-pci
// over the node's session): slot to QEMU id, function 0. For tests and the
// bench alike (no vitest here).
import type { NodeSession } from "../../electron/ssh/session.js";
import { kvmPaths } from "../../electron/lab/ganeti/cluster.js";
import { QmpClient } from "../../electron/qmp/client.js";
import { QueryPciResultSchema, liveSlotsFromQueryPci } from "../../shared/qmp/query-pci.js";

export async function livePci(session: NodeSession, instance: string): Promise<Map<number, string>> {
  const path = kvmPaths(instance).qmp;
  const qmp = await QmpClient.connect(await session.openUnixSocket(path), { label: path });
  try {
    const live = liveSlotsFromQueryPci(await qmp.execute("query-pci", undefined, { schema: QueryPciResultSchema }));
    return new Map(live.filter((d) => d.function === 0).map((d) => [d.slot, d.qdevId]));
  } finally {
    qmp.close();
  }
}
