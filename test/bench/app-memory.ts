// Child process of the bench: the main-process side of the app (composeApp
// via startAppForTest: settings, node manager, service, web host) in a fresh
// Node process, so its RSS is not mixed with the lab and the other benches.
// Prints one JSON line on stdout. Run with --expose-gc.
import { statSync } from "node:fs";
import { join } from "node:path";
import { startAppForTest } from "../../electron/web-host/test-harness.js";
import { RENDERER_OUT } from "../../electron/web-host/renderer-build.js";
import type { LabNode } from "../../electron/lab/node.js";
import { mib } from "./stats.js";

interface Input {
  info: LabNode["info"];
  expected: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function sample(): { rssMiB: number; heapUsedMiB: number } {
  gc?.();
  const m = process.memoryUsage();
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed) };
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? "{}") as Input;
  const indexMtime = () => statSync(join(RENDERER_OUT, "index.html"), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const builtAt = indexMtime();
  const beforeCompose = sample();
  // startAppForTest reads only node.info; the lab itself lives in the parent.
  const app = await startAppForTest({ node: { info: input.info } as LabNode });
  try {
    const composed = sample();
    // startAppForTest rebuilds the UI when its sources changed: vite then sits in this process's memory.
    const rendererRebuilt = indexMtime() !== builtAt;
    const list = (await app.app.dispatcher.call("inventory.list", {})) as unknown[];
    if (list.length !== input.expected) throw new Error(`inventory.list returned ${list.length} instances, expected ${input.expected}`);
    const afterFirst = sample();
    // The app holds no inventory cache; repeated loads show whether memory keeps growing or levels off.
    const growth: { loads: number; rssMiB: number; heapUsedMiB: number }[] = [];
    for (let n = 2; n <= 20; n++) {
      await app.app.dispatcher.call("inventory.list", {});
      if (n === 5 || n === 10 || n === 20) growth.push({ loads: n, ...sample() });
    }
    const afterFive = growth[0]!;
    process.stdout.write(
      `${JSON.stringify({
        gcExposed: gc !== undefined,
        rendererRebuilt,
        beforeCompose,
        composed,
        afterFirstLoad: afterFirst,
        afterFiveLoads: afterFive,
        repeatedLoads: growth,
        instances: list.length,
        // Keep the list alive until here, as the app would while replying.
        summaryBytes: JSON.stringify(list).length,
      })}\n`,
    );
  } finally {
    await app.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
