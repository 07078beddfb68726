// `npm start` where no Electron binary exists: the same app, served to a
// browser on this machine through the web host.
import { homedir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { composeApp } from "../app/compose.js";
import { labLauncher } from "../app/lab-launcher.js";
import { startWebHost } from "./server.js";
import { ensureRendererBuilt } from "./renderer-build.js";

function dataDir(): string {
  const base = process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config");
  return join(base, "hotplug-desk");
}

async function main(): Promise<void> {
  const dir = process.env.HOTPLUG_DESK_DATA_DIR ?? dataDir();
  const staticDir = await ensureRendererBuilt((l) => console.error(l));
  const app = await composeApp({ dataDir: dir, transport: "web", version: process.env.npm_package_version ?? "dev", lab: labLauncher() });
  const port = Number(process.env.HOTPLUG_DESK_PORT ?? 0);
  const host = await startWebHost({ dispatcher: app.dispatcher, bus: app.bus, staticDir, port });
  console.log(`Hotplug Desk is running. Open this address in a browser on this machine:\n\n  ${host.openUrl}\n\nSettings: ${dir}   Ctrl-C stops it.`);
  if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) {
    // Best effort: a desktop session opens the browser for the user.
    spawn("xdg-open", [host.openUrl], { stdio: "ignore", detached: true }).on("error", () => {}).unref();
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await host.close();
    await app.dispose();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
