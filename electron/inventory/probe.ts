// One short, time-boxed QMP session per instance: the socket serves one
// client at a time (Ganeti opens it per operation), so we read what we need
// and let go. A socket that gives no greeting is reported as busy.
import type { NodeSession } from "../ssh/session.js";
import { QmpBusyError, QmpClient } from "../qmp/client.js";
import { QueryStatusSchema } from "../../shared/qmp/messages.js";
import { livePci, liveScsi, peripherals } from "../qmp/live-bus.js";
import type { InstanceFacts, LiveFacts } from "../../shared/inventory/build.js";


export interface ProbeOptions {
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
}

export type ProbeResult = { live: LiveFacts } | { problem: NonNullable<InstanceFacts["liveProblem"]> };

/** Read the live facts of one instance through its `.qmp` socket on the node. */
export async function probeInstance(session: NodeSession, qmpPath: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  let stream;
  try {
    stream = await session.openUnixSocket(qmpPath);
  } catch {
    // sshd refuses the channel when the socket is missing or nobody listens.
    return { problem: { state: "stopped", detail: `No QEMU is listening on ${qmpPath}.` } };
  }
  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(stream, {
      label: qmpPath,
      greetingTimeoutMs: opts.greetingTimeoutMs ?? 2500,
      commandTimeoutMs: opts.commandTimeoutMs ?? 5000,
    });
  } catch (err) {
    if (err instanceof QmpBusyError) return { problem: { state: "busy", detail: err.message } };
    return { problem: { state: "unreachable", detail: err instanceof Error ? err.message : String(err) } };
  }
  try {
    // Sent together (QMP answers in order, matched by id): one round trip, not three.
    const [status, pci, devices] = await Promise.all([qmp.execute("query-status", undefined, { schema: QueryStatusSchema }), livePci(qmp), peripherals(qmp)]);
    const scsi = await liveScsi(qmp, devices);
    // The bus scsi.0 exists exactly when a controller has the id "scsi" (Ganeti's
    // -device <type>,id=scsi). PCI class codes cannot tell: virtio-blk reports
    // class 0x0100 ("SCSI controller") too.
    const scsiController = pci.some((d) => d.qdevId === "scsi") || devices.has("scsi");
    const v = qmp.version;
    return {
      live: {
        status: status.status === "running" ? "running" : "paused",
        qemuVersion: `${v.major}.${v.minor}.${v.micro}`,
        pci,
        scsi,
        scsiController,
        qmpCommands: [...qmp.commands],
      },
    };
  } catch (err) {
    return { problem: { state: "unreachable", detail: `QMP on ${qmpPath} failed: ${err instanceof Error ? err.message : String(err)}` } };
  } finally {
    qmp.close();
  }
}
