// Short QMP sessions to ctrl/<instance>.qmp over the node's SSH connection.
import type { NodeSession } from "../ssh/session.js";
import { QmpClient, qmpCacheKey } from "../qmp/client.js";

export interface QmpTimeouts {
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
}

export async function openQmp(session: NodeSession, qmpPath: string, t: QmpTimeouts = {}): Promise<QmpClient> {
  const stream = await session.openUnixSocket(qmpPath);
  return QmpClient.connect(stream, {
    label: `${session.label}:${qmpPath}`,
    cacheKey: qmpCacheKey(session.label, qmpPath),
    greetingTimeoutMs: t.greetingTimeoutMs ?? 5000,
    commandTimeoutMs: t.commandTimeoutMs ?? 15_000,
  });
}

// The live-bus reads live with the QMP client; the executor and the inventory share them.
export { livePci, liveScsi, peripherals } from "../qmp/live-bus.js";
