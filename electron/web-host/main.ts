// `npm start` where no Electron binary exists: the same app, served to a
// browser on this machine through the web host.
import { homedir } from "node:os";
import { join } from "node:path";
import { runWebHost } from "./run.js";

function dataDir(): string {
  const base = process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config");
  return join(base, "hotplug-desk");
}

async function main(): Promise<void> {
  const running = await runWebHost({
    dataDir: process.env.HOTPLUG_DESK_DATA_DIR ?? dataDir(),
    port: Number(process.env.HOTPLUG_DESK_PORT ?? 0),
    terminal: (text) => process.stdout.write(text),
    terminalIsTty: process.stdout.isTTY === true,
    env: process.env,
    version: process.env.npm_package_version ?? "dev",
    lab: true,
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await running.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
