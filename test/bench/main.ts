// `npm run bench`: measures Hotplug Desk against the lab on this machine
// and prints one JSON object (progress goes to stderr). Every figure stands
// beside the floor it is compared with, measured in the same run. Targets
// are reported as pass/fail; the command itself never fails on them.
//
// Environment: BENCH_RUNS (hotplug rounds, default 30), BENCH_GANETI_RUNS
// (rounds beside Ganeti, default 6), BENCH_ONLY (comma list of
// hotplug,inventory,memory,ui,cli,ganeti,cluster).
import { execFile } from "node:child_process";
import { cpus, loadavg, totalmem, release } from "node:os";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { LabNode } from "../../electron/lab/node.js";
import { ensureRendererBuilt } from "../../electron/web-host/renderer-build.js";
import { benchCliStartup } from "./cli-startup.js";
import { benchCluster } from "./cluster.js";
import { benchHotplug } from "./hotplug.js";
import { benchGaneti } from "./ganeti.js";
import { benchInventory, startPausedInstances } from "./inventory.js";
import { addStoppedInstances, benchUi, CHROMIUM } from "./ui.js";
import { mib, round } from "./stats.js";
import { TSX_NODE_FLAGS } from "../support/tsx.js";

const execFileP = promisify(execFile);
const REPO = resolve(__dirname, "../..");
const OUT = join(REPO, "test-results/bench.json");

async function versionOf(file: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileP(file, args, { timeout: 20_000 });
    return (stdout || stderr).trim().split("\n")[0] ?? "";
  } catch (err) {
    return `unavailable (${(err as Error).message.split("\n")[0]})`;
  }
}

/** A section that fails is reported as such; the others still run. */
async function section<T>(name: string, log: (l: string) => void, fn: () => Promise<T>): Promise<T | { error: string }> {
  const t0 = Date.now();
  log(`${name}: start`);
  try {
    const v = await fn();
    log(`${name}: done in ${round((Date.now() - t0) / 1000, 1)} s`);
    return v;
  } catch (err) {
    log(`${name}: FAILED: ${(err as Error).stack ?? String(err)}`);
    return { error: (err as Error).message ?? String(err) };
  }
}

/** Main-process memory, measured in a fresh child process (see app-memory.ts). */
function appMemoryChild(lab: LabNode, expected: number): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", ...TSX_NODE_FLAGS, join(__dirname, "app-memory.ts"), JSON.stringify({ info: lab.info, expected })],
      { cwd: REPO, timeout: 120_000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`memory child failed: ${stderr.trim() || err.message}`));
        else resolvePromise(JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>);
      },
    );
  });
}

type Obj = Record<string, unknown>;
const get = (o: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Obj)[k] : undefined), o);

async function main(): Promise<void> {
  const t0 = Date.now();
  const log = (line: string) => process.stderr.write(`[bench ${round((Date.now() - t0) / 1000, 1)}s] ${line}\n`);
  const runs = Number(process.env.BENCH_RUNS ?? 30);
  const only = new Set((process.env.BENCH_ONLY ?? "hotplug,inventory,memory,ui,cli,ganeti,cluster").split(",").map((s) => s.trim()));

  const result: Obj = {
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "?",
      memoryMiB: mib(totalmem()),
      kernel: release(),
      node: process.version,
      qemu: await versionOf("/usr/bin/qemu-system-x86_64", ["--version"]),
      openssh: await versionOf("ssh", ["-V"]),
      chromium: await versionOf(CHROMIUM, ["--version"]),
      loadAvgAtStart: loadavg().map((v) => round(v)),
    },
    startedAt: new Date().toISOString(),
  };

  if (only.has("ui") || only.has("cluster")) {
    // Build the UI first so a (re)build never lands inside a measurement.
    await ensureRendererBuilt(log).catch((err: unknown) => log(`renderer build failed: ${String(err)}`));
  }

  if (only.has("cli")) result.cliStartup = await section("cli", log, () => benchCliStartup({ runs: 30, log }));
  if (only.has("hotplug")) result.hotplug = await section("hotplug", log, () => benchHotplug({ runs, log }));
  if (only.has("ganeti")) result.besideGaneti = await section("ganeti", log, () => benchGaneti({ runs: Number(process.env.BENCH_GANETI_RUNS ?? 6), log }));

  if (only.has("inventory") || only.has("memory") || only.has("ui") || only.has("cluster")) {
    const lab = await LabNode.start({ log });
    try {
      if (only.has("inventory")) result.inventory = await section("inventory", log, () => benchInventory({ lab, log, extraNodes: 3 }));
      if (only.has("memory") || only.has("ui")) await startPausedInstances(lab, 50);
      const memory: Obj = {};
      if (only.has("memory")) {
        memory.mainProcess = await section("memory (main process)", log, async () => {
          // A UI rebuild inside the child would load vite there and spoil its RSS: build here first, retry once.
          await ensureRendererBuilt(log);
          let m = await appMemoryChild(lab, 50);
          if (m.rendererRebuilt === true) {
            log("memory: the UI was rebuilt inside the measured process; measuring again");
            m = await appMemoryChild(lab, 50);
          }
          const rss = (k: string) => Number(get(m, k, "rssMiB"));
          return {
            ...m,
            baselineRssMiB: rss("composed"),
            deltaRssMiB: round(rss("afterFirstLoad") - rss("composed"), 1),
            deltaRssAfterFiveLoadsMiB: round(rss("afterFiveLoads") - rss("composed"), 1),
            deltaRssAfterTwentyLoadsMiB: round(Number(get((m.repeatedLoads as unknown[] | undefined)?.at(-1), "rssMiB")) - rss("composed"), 1),
            note: "a fresh Node process (tsx): composeApp via startAppForTest connected to the lab node (baseline), then inventory.list of 50 running instances through the dispatcher",
          };
        });
      }
      if (only.has("ui")) {
        log("ui: writing 450 stopped instances' runtime files (500 in all with the 50 paused ones)");
        await addStoppedInstances(lab, 450);
        const ui = await section("ui", log, () => benchUi({ lab, expected: 500, log, runs: 20 }));
        if ("error" in ui) {
          result.ui = ui;
        } else {
          const { heap, ...rest } = ui as Obj;
          memory.renderer = heap;
          result.ui = rest;
        }
      }
      if (Object.keys(memory).length > 0) result.memory = memory;
      // Last: its own nodes and instances (20 of them running) share the lab's directory, so the sections
      // that count the lab node's instances (memory, ui) go first.
      if (only.has("cluster")) result.cluster = await section("cluster", log, () => benchCluster({ lab, log }));
    } finally {
      await lab.stop();
    }
  }

  const target = (path: string[]): unknown => {
    const t = get(result, ...path);
    return t === undefined ? "not measured" : get(t, "pass") ?? "not measured";
  };
  result.targets = {
    hotplugNicAdd: target(["hotplug", "nicAdd", "target"]),
    inventory50Maps: target(["inventory", "target"]),
    fleetView500: target(["ui", "fleetRender", "target"]),
    dragFrames: target(["ui", "drag", "target"]),
    cliStartup: target(["cliStartup", "target"]),
    cluster: target(["cluster", "target"]),
    configFirstNicAdd: target(["besideGaneti", "configFirstNicAdd", "target"]),
  };
  (result.machine as Obj).loadAvgAtEnd = loadavg().map((v) => round(v));
  result.durationS = round((Date.now() - t0) / 1000, 1);

  const json = JSON.stringify(result, null, 2);
  await mkdir(join(REPO, "test-results"), { recursive: true });
  await writeFile(OUT, `${json}\n`);
  process.stdout.write(`${json}\n`);
  log(`written to ${OUT}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
