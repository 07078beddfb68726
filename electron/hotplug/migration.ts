// Migration check against a running instance: the runtime file on the node
// (as a migration target would be started from it) against the live buses.
import { z } from "zod";
import { SshConnectionLostError, type NodeSession } from "../ssh/session.js";
import type { QmpClient } from "../qmp/client.js";
import { RuntimeStore } from "../on-node/runtime-store.js";
import { instancePaths } from "../../shared/on-node/layout.js";
import { readRuntime, type Generation } from "../../shared/runtime/index.js";
import { checkRuntimeAgainstLive, type MigrationCheck } from "../../shared/hotplug/migration-check.js";
import { livePci, liveScsi, openQmp, type QmpTimeouts } from "./qmp-session.js";

export interface LiveMigrationCheck extends MigrationCheck {
  instance: string;
  generation: Generation;
}

export async function checkInstanceMigration(session: NodeSession, instance: string, opts: { root: string } & QmpTimeouts): Promise<LiveMigrationCheck> {
  try {
    const file = await new RuntimeStore(session).readRuntimeFile(opts.root, instance);
    const doc = readRuntime(file.text);
    const qmp = await openQmp(session, instancePaths(opts.root, instance).qmp, opts);
    try {
      const result = checkRuntimeAgainstLive(doc.runtime, await livePci(qmp), await liveScsi(qmp));
      return { ...result, instance, generation: doc.generation };
    } finally {
      qmp.close();
    }
  } catch (err) {
    // A QMP stream or SFTP channel that ended with the connection: say that, not what the stream said.
    if (!(err instanceof SshConnectionLostError) && (await session.lostWithin(100))) throw new SshConnectionLostError(session.label, `lost while ${instance} was being checked: ${(err as Error).message}`);
    throw err;
  }
}

const QueryMigrateSchema = z.object({ status: z.string().optional(), "error-desc": z.string().optional() }).loose();
export type MigrationOutcome = { status: "completed" } | { status: "failed" | "cancelled" | "timeout"; error: string };

/** Send the guest to a target listening at `uri` and poll query-migrate until it ends. */
export async function migrateAndWait(qmp: QmpClient, uri: string, timeoutMs: number): Promise<MigrationOutcome> {
  await qmp.execute("migrate", { uri });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await qmp.execute("query-migrate", undefined, { schema: QueryMigrateSchema });
    if (r.status === "completed") return { status: "completed" };
    if (r.status === "failed" || r.status === "cancelled") return { status: r.status, error: r["error-desc"] ?? `migration ${r.status}` };
    if (Date.now() > deadline) return { status: "timeout", error: `migration still "${r.status ?? "?"}" after ${timeoutMs} ms` };
    await new Promise((res) => setTimeout(res, 200));
  }
}
