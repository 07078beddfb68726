// One short, time-boxed QMP session per instance: the socket serves one
// client at a time (Ganeti opens it per operation), so we read what we need
// and let go. A socket that gives no greeting is reported as busy.
import type { NodeSession } from "../ssh/session.js";
import { QmpBusyError, QmpClient, QmpError, QmpTimeoutError, qmpCacheKey } from "../qmp/client.js";
import { QueryStatusSchema } from "../../shared/qmp/messages.js";
import { livePci, liveScsi, peripherals } from "../qmp/live-bus.js";
import type { InstanceFacts, LiveFacts } from "../../shared/inventory/facts.js";


export interface ProbeOptions {
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
}

export type ProbeResult = { live: LiveFacts } | { problem: NonNullable<InstanceFacts["liveProblem"]> };

/** Read the live facts of one instance through its `.qmp` socket on the node. */
export async function probeInstance(session: NodeSession, qmpPath: string, opts: ProbeOptions = {}): Promise<ProbeResult> {
  const { result, qmp } = await probeAndKeep(session, qmpPath, opts);
  qmp?.close();
  return result;
}

/** The live facts, read again on an open session. */
export async function readLive(qmp: QmpClient, qmpPath: string): Promise<ProbeResult> {
  try {
    return { live: liveFacts(qmp, await readBus(qmp)) };
  } catch (err) {
    return { problem: { state: "unreachable", detail: failed(qmpPath, err) } };
  }
}

const failed = (qmpPath: string, err: unknown): string => `QMP on ${qmpPath} failed: ${err instanceof Error ? err.message : String(err)}`;

/**
 * probeInstance for a caller that goes on to change the instance: the
 * session stays open for it (it closes it), so its first command costs no
 * new channel, and it can read the bus again with `readLive`.
 */
export async function probeAndKeep(session: NodeSession, qmpPath: string, opts: ProbeOptions = {}): Promise<{ result: ProbeResult; qmp?: QmpClient }> {
  let stream;
  try {
    stream = await session.openUnixSocket(qmpPath);
  } catch {
    // sshd refuses the channel when the socket is missing or nobody listens.
    return { result: { problem: { state: "stopped", detail: `No QEMU is listening on ${qmpPath}.` } } };
  }
  let qmp: QmpClient;
  let bus: Bus;
  try {
    // The reads go out with the negotiation: one round trip for all of it.
    ({ client: qmp, first: bus } = await QmpClient.connectThen(
      stream,
      { label: qmpPath, greetingTimeoutMs: opts.greetingTimeoutMs ?? 2500, commandTimeoutMs: opts.commandTimeoutMs ?? 5000, cacheKey: qmpCacheKey(session.label, qmpPath) },
      readBus,
    ));
  } catch (err) {
    if (err instanceof QmpBusyError) return { result: { problem: { state: "busy", detail: err.message } } };
    const detail = err instanceof QmpError || err instanceof QmpTimeoutError ? failed(qmpPath, err) : err instanceof Error ? err.message : String(err);
    return { result: { problem: { state: "unreachable", detail } } };
  }
  return { result: { live: liveFacts(qmp, bus) }, qmp };
}

function liveFacts(qmp: QmpClient, bus: Bus): LiveFacts {
  // The bus scsi.0 exists exactly when a controller has the id "scsi" (Ganeti's
  // -device <type>,id=scsi). PCI class codes cannot tell: virtio-blk reports
  // class 0x0100 ("SCSI controller") too.
  const scsiController = bus.pci.some((d) => d.qdevId === "scsi") || bus.devices.has("scsi");
  const v = qmp.version;
  return {
    status: bus.status.status === "running" ? "running" : "paused",
    qemuVersion: `${v.major}.${v.minor}.${v.micro}`,
    pci: bus.pci,
    scsi: bus.scsi,
    scsiController,
    qmpCommands: [...qmp.commands],
  };
}

type Bus = Awaited<ReturnType<typeof readBus>>;

/** Status, pci.0 and the peripherals sent together (QMP answers in order), then any SCSI targets. */
async function readBus(qmp: QmpClient) {
  const [status, pci, devices] = await Promise.all([qmp.execute("query-status", undefined, { schema: QueryStatusSchema }), livePci(qmp), peripherals(qmp)]);
  const scsi = await liveScsi(qmp, devices);
  return { status, pci, devices, scsi };
}
