// The web host as `npm start` runs it (where no Electron binary exists): the
// composed app, its HTTP/WebSocket host on 127.0.0.1, the trust gesture that
// prints one-time codes in this terminal, and the browser opened on a
// private redirect file so the token is in no process's argv.
import { composeApp, type ComposedApp } from "../app/compose.js";
import { labLauncher } from "../app/lab-launcher.js";
import type { Dispatcher } from "../app/dispatch.js";
import { startWebHost, type WebHost } from "./server.js";
import { ensureRendererBuilt } from "./renderer-build.js";
import { typedCodeGesture } from "./typed-code-gesture.js";
import { launchBrowser, writeOpenFile, type OpenFile } from "./open-in-browser.js";

export interface WebHostRunOptions {
  dataDir: string;
  port: number;
  /** The terminal that started the web host: the address and trust codes go here only. */
  terminal: (text: string) => void;
  /** Whether that terminal is a terminal (a TTY), not a pipe or a file. */
  terminalIsTty: boolean;
  env: NodeJS.ProcessEnv;
  version: string;
  /** Offer a local lab node in the UI. */
  lab?: boolean;
  /** Wraps the dispatcher (the fuzz test counts calls that get through). */
  tapDispatcher?: (d: Dispatcher) => Pick<Dispatcher, "call">;
}

export interface RunningWebHost {
  app: ComposedApp;
  host: WebHost;
  openFile: OpenFile;
  stop(): Promise<void>;
}

export async function runWebHost(opts: WebHostRunOptions): Promise<RunningWebHost> {
  const staticDir = await ensureRendererBuilt((l) => opts.terminal(`${l}\n`));
  const app = await composeApp({
    dataDir: opts.dataDir,
    transport: "web",
    version: opts.version,
    ...(opts.lab ? { lab: labLauncher() } : {}),
    trustGesture: typedCodeGesture({ terminal: opts.terminal }),
  });
  const dispatcher = opts.tapDispatcher ? opts.tapDispatcher(app.dispatcher) : app.dispatcher;
  const host = await startWebHost({ dispatcher, bus: app.bus, staticDir, port: opts.port });
  const openFile = await writeOpenFile(host.openUrl, opts.env);
  // The address with the token goes to a terminal only; a pipe or log file gets the private file's name instead.
  const address = opts.terminalIsTty ? `Open this address in a browser on this machine:\n\n  ${host.openUrl}\n\nor open ${openFile.url}` : `Open ${openFile.url} in a browser on this machine (it holds the address with the access token and is readable only by you).`;
  opts.terminal(`Hotplug Desk is running at ${host.url}\n${address}\n\nSettings: ${opts.dataDir}   Ctrl-C stops it.\n`);
  if (opts.env.BROWSER || opts.env.DISPLAY || opts.env.WAYLAND_DISPLAY) launchBrowser(openFile, opts.env);
  return {
    app,
    host,
    openFile,
    stop: async () => {
      await host.close();
      await app.dispose();
      await openFile.remove();
    },
  };
}
