// Builds the app's main-process side once: settings, node manager, activity
// log, event bus, service and dispatcher. Electron's main and the web host
// both start from here, so the two transports run the same code.
import { join } from "node:path";
import { SettingsStore } from "../node-registry/settings-store.js";
import { NodeManager } from "../node-registry/node-manager.js";
import { ActivityLog } from "./activity-log.js";
import { Dispatcher, EventBus } from "./dispatch.js";
import { createService, type LabLauncher } from "./service.js";
import { Journal } from "../hotplug/journal.js";
import { PassphraseStore, type PersistentSecretBackend } from "./passphrase-store.js";
import { withGanetiLab, type LocalLabs } from "./lab-launcher.js";
import type { AppInfo } from "../../shared/ipc/contract.js";
import type { TrustGesture } from "../node-registry/trust-gesture.js";

export interface ComposeOptions {
  dataDir: string;
  transport: AppInfo["transport"];
  version: string;
  /** The undo journal of runtime-file writes (default: journal/ in dataDir). */
  journalDir?: string;
  lab?: LabLauncher;
  /** The user's ~/.ssh/known_hosts (read-only); null to ignore it (tests). */
  userKnownHostsPath?: string | null;
  /** See ServiceDeps.watchIntervalMs. */
  watchIntervalMs?: number;
  /**
   * Where key passphrases the user asks to remember are kept across runs
   * (Electron: the OS keychain via safeStorage). Without one they are kept
   * in memory until the app quits.
   */
  secretBackend?: PersistentSecretBackend;
  /** How this transport has the user confirm a host key; without one, trust is refused. */
  trustGesture?: TrustGesture;
}

export interface ComposedApp {
  dispatcher: Dispatcher;
  bus: EventBus;
  nodes: NodeManager;
  store: SettingsStore;
  activity: ActivityLog;
  passphrases: PassphraseStore;
  dispose(): Promise<void>;
}

export async function composeApp(opts: ComposeOptions): Promise<ComposedApp> {
  const store = new SettingsStore({ dataDir: opts.dataDir, ...(opts.userKnownHostsPath !== undefined ? { userKnownHostsPath: opts.userKnownHostsPath } : {}) });
  const passphrases = new PassphraseStore(opts.secretBackend);
  const nodes = await NodeManager.open({ store, passphrases });
  const activity = await ActivityLog.open(opts.dataDir);
  const bus = new EventBus();
  const service = createService({ nodes, passphrases, trustKnownHostsLine: (line) => store.appendKnownHost(line), ...(opts.trustGesture ? { trustGesture: opts.trustGesture } : {}), activity, bus, journal: new Journal(opts.journalDir ?? join(opts.dataDir, "journal")), lab: opts.lab, version: opts.version, transport: opts.transport, ...(opts.watchIntervalMs !== undefined ? { watchIntervalMs: opts.watchIntervalMs } : {}) });
  if (nodes.loadProblem) {
    await activity.add({ nodeId: "app", summary: "Node settings were unreadable and were set aside", outcome: "failed", detail: JSON.stringify(nodes.loadProblem) });
  }
  // A lab node lives only as long as the app that started it: one saved by an
  // earlier run points at processes that are gone.
  if (opts.lab) for (const n of nodes.list()) if (n.id.startsWith("lab-")) await nodes.remove(n.id);
  // Connect to every saved node at start; each shows its own state.
  for (const n of nodes.list()) void nodes.connect(n.id).catch(() => {});
  // The local Ganeti cluster, when the launcher offers one (electron/app/lab-launcher.ts).
  const handlers = opts.lab && "ganeti" in opts.lab ? withGanetiLab(service.handlers, { ganeti: (opts.lab as LocalLabs).ganeti, nodes, trustKnownHostsLine: (line) => store.appendKnownHost(line), activity, bus }) : service.handlers;
  return {
    dispatcher: new Dispatcher(handlers),
    bus,
    nodes,
    store,
    activity,
    passphrases,
    dispose: async () => {
      service.dispose();
      await nodes.dispose();
      passphrases.clear();
      await opts.lab?.stopAll();
    },
  };
}
