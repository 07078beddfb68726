// The web host as npm start runs it (runWebHost: the composed app, its
// server, the terminal trust gesture), in a process of its own for
// web-host-fuzz.test.ts. The only addition is a count of API calls that got
// through the transport to the app's Dispatcher.
//   stdout, once up:   {"port":N,"token":"…"}
//   stdin "count\n" →  {"count":N}
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { runWebHost } from "../../electron/web-host/run.js";

async function main(): Promise<void> {
  const dataDir = process.argv[2] ?? (await mkdtemp(join(tmpdir(), "hdfuzz-data-")));
  let calls = 0;
  const running = await runWebHost({
    dataDir,
    port: 0,
    // The terminal's text (address, codes) is not needed here.
    terminal: () => undefined,
    terminalIsTty: false,
    env: process.env,
    version: "fuzz",
    tapDispatcher: (d) => ({
      call: (channel: unknown, request: unknown) => {
        calls++;
        return d.call(channel, request);
      },
    }),
  });
  process.stdout.write(`${JSON.stringify({ port: running.host.port, token: running.host.token })}\n`);
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line.trim() === "count") process.stdout.write(`${JSON.stringify({ count: calls })}\n`);
  });
  process.on("SIGTERM", () => void running.stop().then(() => process.exit(0)));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
