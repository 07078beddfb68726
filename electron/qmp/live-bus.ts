// What a running QEMU has on its buses, read over an open QMP session:
// pci.0 from query-pci, and the disks on SCSI buses from the qdev tree.
import { z } from "zod";
import { QmpError, type QmpClient } from "./client.js";
import { QueryPciResultSchema, liveSlotsFromQueryPci, type LivePciDevice } from "../../shared/qmp/query-pci.js";
import type { LiveScsiTarget } from "../../shared/slots/index.js";

export async function livePci(qmp: QmpClient): Promise<LivePciDevice[]> {
  return liveSlotsFromQueryPci(await qmp.execute("query-pci", undefined, { schema: QueryPciResultSchema }));
}

const QomListSchema = z.array(z.object({ name: z.string(), type: z.string() }).loose());
const SCSI_CHILD = /^child<(scsi-hd|scsi-block|scsi-generic|scsi-cd)>$/;

/** Devices with an id (qdev peripherals): name → QOM type ("child<virtio-net-pci>"). */
export async function peripherals(qmp: QmpClient): Promise<Map<string, string>> {
  if (!qmp.supports("qom-list")) return new Map();
  let list: z.infer<typeof QomListSchema>;
  try {
    list = await qmp.execute("qom-list", { path: "/machine/peripheral" }, { schema: QomListSchema });
  } catch (err) {
    // Sent before query-commands was back (QmpClient.connectThen): a QEMU without it says so.
    if (err instanceof QmpError && err.errorClass === "CommandNotFound") return new Map();
    throw err;
  }
  return new Map(list.filter((p) => p.type.startsWith("child<")).map((p) => [p.name, p.type]));
}

/** Disks on scsi.0 (or any SCSI bus), with their target ids; pass `known` when peripherals were already listed. */
export async function liveScsi(qmp: QmpClient, known?: Map<string, string>): Promise<LiveScsiTarget[]> {
  const disks = [...(known ?? (await peripherals(qmp)))].flatMap(([name, type]) => {
    const m = SCSI_CHILD.exec(type);
    return m ? [{ name, driver: m[1] as string }] : [];
  });
  // All qom-gets at once: one round trip however many disks.
  return Promise.all(
    disks.map(async ({ name, driver }) => ({
      scsiId: await qmp.execute("qom-get", { path: `/machine/peripheral/${name}`, property: "scsi-id" }, { schema: z.number().int() }),
      qdevId: name,
      driver,
    })),
  );
}
