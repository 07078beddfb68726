// The real app, served by the web host, pointed at a lab node: what the
// end-to-end tests drive with Chromium. Nothing here is a fake: the same
// composeApp, service, node manager and executor as `npm start`.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LabNodeInfo } from "../lab/node.js";
import { composeApp, type ComposedApp } from "../app/compose.js";
import { startWebHost, type WebHost } from "./server.js";
import { ensureRendererBuilt } from "./renderer-build.js";
import { typedCodeGesture } from "./typed-code-gesture.js";

export interface AppUnderTest {
  /** Open this in the browser: it carries the token in the fragment. */
  openUrl: string;
  url: string;
  token: string;
  nodeId: string;
  app: ComposedApp;
  host: WebHost;
  dataDir: string;
  /** What the web host printed to "its terminal" (one-time trust codes), as a user would read it. */
  terminal: string[];
  stop(): Promise<void>;
}

/** A lab node, or just its sshd (root "/") for tests that need no instances. */
export type NodeUnderTest = { info: Pick<LabNodeInfo, "host" | "port" | "user" | "privateKeyPath" | "hostPublicKey" | "root"> };

export async function startAppForTest(opts: {
  node: NodeUnderTest;
  nodeId?: string;
  trustHostKey?: boolean;
  watchIntervalMs?: number;
  /** Another client key than the lab's (e.g. an encrypted one). */
  keyPath?: string;
}): Promise<AppUnderTest> {
  const staticDir = await ensureRendererBuilt();
  const dataDir = await mkdtemp(join(tmpdir(), "hdapp-"));
  const info = opts.node.info;
  if (opts.trustHostKey ?? true) {
    // As if the user had already trusted the lab's host key in this app.
    await writeFile(join(dataDir, "known_hosts"), `[127.0.0.1]:${info.port} ${info.hostPublicKey}\n`, { mode: 0o600 });
  }
  const terminal: string[] = [];
  const app = await composeApp({
    dataDir,
    transport: "web",
    version: "test",
    userKnownHostsPath: null,
    // The web host's own gesture: codes go to its terminal, here a list the test reads.
    trustGesture: typedCodeGesture({ terminal: (t) => void terminal.push(t) }),
    ...(opts.watchIntervalMs !== undefined ? { watchIntervalMs: opts.watchIntervalMs } : {}),
  });
  const nodeId = opts.nodeId ?? "lab";
  await app.nodes.add({
    id: nodeId,
    name: "Lab node",
    host: info.host,
    port: info.port,
    user: info.user,
    auth: { kind: "key", keyPath: opts.keyPath ?? info.privateKeyPath },
    root: info.root,
  });
  await app.nodes.connect(nodeId).catch(() => {});
  const host = await startWebHost({ dispatcher: app.dispatcher, bus: app.bus, staticDir });
  return {
    openUrl: host.openUrl,
    url: host.url,
    token: host.token,
    nodeId,
    app,
    host,
    dataDir,
    terminal,
    stop: async () => {
      await host.close();
      await app.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
