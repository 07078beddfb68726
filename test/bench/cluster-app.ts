// Child process of the cluster bench: the app's main-process side in a
// fresh Node process (so its RSS is its own), against the synthetic cluster
// of cluster-lab.ts. Each cold round composes a new app, adds the first node
// as a user does (trust arranged beforehand in the app's known_hosts), and
// goes through cluster.discover and cluster.addNodes to every instance of
// the cluster loaded. The floor (OpenSSH's client reading the same files on
// every node at once) runs before each round, so both see the same load.
// The first round's app then serves warm refreshes, the memory samples and
// the fleet in Chromium. Prints one JSON line on stdout. Run with --expose-gc.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { startWebHost } from "../../electron/web-host/server.js";
import { RENDERER_OUT } from "../../electron/web-host/renderer-build.js";
import { ClusterDiscoverySchema, AddClusterNodesResponseSchema, type ClusterDiscovery } from "../../shared/ipc/contract.js";
import type { ClusterLab } from "./cluster-lab.js";
import { mib, round, summarize } from "./stats.js";

export type ClusterAppInput = Pick<ClusterLab, "name" | "root" | "user" | "keyPath" | "knownHostsLines" | "knownHostsPath" | "nodes" | "offline" | "instances"> & {
  rounds: { cold: number; warm: number; ui: number };
};

const gc = (globalThis as { gc?: () => void }).gc;
const log = (line: string) => process.stderr.write(`[cluster app] ${line}\n`);

function memory(): { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number } {
  gc?.();
  const m = process.memoryUsage();
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external) };
}

/** OpenSSH's client: one connection per node, all at once, each `cat` of `files(node)`. */
function sshCatAll(input: ClusterAppInput, nodes: ClusterAppInput["nodes"], files: (n: ClusterAppInput["nodes"][number]) => string[]): Promise<number> {
  const t0 = performance.now();
  const one = (n: ClusterAppInput["nodes"][number]) =>
    new Promise<void>((resolve, reject) => {
      execFile(
        "ssh",
        ["-i", input.keyPath, "-p", String(n.port), "-o", `UserKnownHostsFile=${input.knownHostsPath}`, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-F", "/dev/null", `${input.user}@${n.address}`, "cat", ...files(n)],
        { maxBuffer: 64 << 20 },
        (err, stdout) => (err ? reject(new Error(`ssh cat on ${n.name}: ${err.message}`)) : stdout.length === 0 ? reject(new Error(`ssh cat on ${n.name} printed nothing`)) : resolve()),
      );
    });
  return Promise.all(nodes.map(one)).then(() => performance.now() - t0);
}

/** Resolves when every id in `ids` is ready; rejects on a node that fails (with its reason). */
function allReady(app: ComposedApp, ids: () => string[], timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const want = ids();
      const failed = want.map((id) => app.nodes.status(id)).find((s) => s?.state === "failed");
      if (failed) return done(new Error(`node ${failed.id} failed: ${failed.detail ?? ""}`));
      if (want.length > 0 && want.every((id) => app.nodes.status(id)?.state === "ready")) done();
    };
    const timer = setTimeout(() => done(new Error(`nodes not ready within ${timeoutMs} ms: ${ids().filter((id) => app.nodes.status(id)?.state !== "ready").join(", ")}`)), timeoutMs);
    const off = app.nodes.subscribe((e) => e.type === "status" && check());
    const done = (err?: Error) => {
      clearTimeout(timer);
      off();
      if (err) reject(err);
      else resolve();
    };
    check();
  });
}

interface ColdRun {
  steps: Record<string, number>;
  totalMs: number;
  app: ComposedApp;
  dataDir: string;
  view: ClusterDiscovery;
}

/** From adding the first node to every instance of the cluster loaded, in a new app. */
async function cold(input: ClusterAppInput, composedAt: (app: ComposedApp) => void = () => {}): Promise<ColdRun> {
  const dataDir = await mkdtemp(join(tmpdir(), "hdcl-app-"));
  // Trust arranged beforehand: every node's key is in the app's known_hosts.
  await writeFile(join(dataDir, "known_hosts"), `${input.knownHostsLines.join("\n")}\n`, { mode: 0o600 });
  const app = await composeApp({ dataDir, transport: "web", version: "bench", userKnownHostsPath: null });
  composedAt(app);
  const first = input.nodes[0]!;
  const steps: Record<string, number> = {};
  const t0 = performance.now();
  let t = t0;
  const step = (name: string) => {
    const n = performance.now();
    steps[name] = round(n - t);
    t = n;
  };
  const added = (await app.dispatcher.call("nodes.add", { host: first.address, port: first.port, user: input.user, keyPath: input.keyPath, root: input.root, name: first.name })) as { config: { id: string } };
  const firstId = added.config.id;
  await allReady(app, () => [firstId]);
  step("addFirstNodeConnected");
  const found = (await app.dispatcher.call("cluster.discover", { nodeId: firstId })) as ClusterDiscovery;
  step("discover");
  if (found.kind !== "cluster") throw new Error(`the first node is standalone: ${found.why}`);
  const names = found.view.candidates.filter((c) => !c.blocked).map((c) => c.name);
  const addedMore = AddClusterNodesResponseSchema.parse(await app.dispatcher.call("cluster.addNodes", { nodeId: firstId, names }));
  step("addNodes");
  if (addedMore.refused.length) throw new Error(`cluster.addNodes refused ${JSON.stringify(addedMore.refused)}`);
  await allReady(app, () => app.nodes.list().map((n) => n.id));
  step("allConnected");
  const view = (await app.dispatcher.call("cluster.discover", { nodeId: firstId })) as ClusterDiscovery;
  step("clusterView");
  const totalMs = round(performance.now() - t0);
  check(input, view);
  return { steps, totalMs, app, dataDir, view };
}

/** The view must hold every instance with what its node shows, so a fast but empty answer cannot pass. */
function check(input: ClusterAppInput, raw: unknown): void {
  const d = ClusterDiscoverySchema.parse(raw);
  if (d.kind !== "cluster") throw new Error("standalone");
  const v = d.view;
  if (v.instances.length !== input.instances.total) throw new Error(`the cluster view lists ${v.instances.length} instances, expected ${input.instances.total}`);
  const unread = v.instances.filter((i) => i.state === null || i.stateNote);
  if (unread.length) throw new Error(`${unread.length} instances without their node's view, e.g. ${unread[0]!.name}: ${unread[0]!.stateNote ?? ""}`);
  const live = v.instances.filter((i) => i.state === "paused" || i.state === "running").length;
  if (live !== input.instances.running) throw new Error(`${live} instances live, expected ${input.instances.running}`);
  const notInConfig = v.instances.flatMap((i) => i.devices).filter((x) => x.where.config !== true);
  if (notInConfig.length) throw new Error(`${notInConfig.length} devices not matched with Ganeti's configuration`);
  const reachable = v.nodes.filter((n) => n.connection === "ready").length;
  if (reachable !== input.nodes.length) throw new Error(`${reachable} nodes ready in the view, expected ${input.nodes.length}`);
}

async function close(run: Pick<ColdRun, "app" | "dataDir">): Promise<void> {
  await run.app.dispose();
  await rm(run.dataDir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const input = JSON.parse(await readFile(process.argv[2] ?? "", "utf8")) as ClusterAppInput;
  const everyFile = (n: ClusterAppInput["nodes"][number]) => n.files;
  const floor: number[] = [];
  const floorTwoStep: number[] = [];
  const colds: ColdRun["steps"][] = [];
  const coldMs: number[] = [];
  const beforeCompose = memory();
  let composed: ReturnType<typeof memory> | undefined;

  const floorRound = async () => {
    floor.push(await sshCatAll(input, input.nodes, everyFile));
    // The floor of discovering first: the first node's cluster files, then every node's files at once.
    const t0 = performance.now();
    await sshCatAll(input, [input.nodes[0]!], (n) => n.discoveryFiles);
    await sshCatAll(input, input.nodes, everyFile);
    floorTwoStep.push(performance.now() - t0);
  };

  // Round 1: a fresh process, as the app starts. Its app stays for the warm loads, memory and the UI.
  await floorRound();
  log("cold round 1");
  const first = await cold(input, () => void (composed = memory()));
  colds.push(first.steps);
  coldMs.push(first.totalMs);
  const loaded = memory();
  const warmView: number[] = [];
  const warmList: number[] = [];
  let ui: Record<string, unknown>;
  let afterWarm: ReturnType<typeof memory>;
  try {
    for (let r = 0; r < input.rounds.warm; r++) {
      let t0 = performance.now();
      check(input, await first.app.dispatcher.call("cluster.discover", { nodeId: first.app.nodes.list()[0]!.id }));
      warmView.push(performance.now() - t0);
      t0 = performance.now();
      const list = (await first.app.dispatcher.call("inventory.list", {})) as unknown[];
      warmList.push(performance.now() - t0);
      if (list.length !== input.instances.total) throw new Error(`inventory.list gave ${list.length} instances, expected ${input.instances.total}`);
    }
    afterWarm = memory();
    log("fleet in Chromium");
    // Playwright is loaded only now, so the memory figures above are the app's alone.
    const { fleetRenderTimes, launchChromium, openFleet } = await import("./ui.js");
    const host = await startWebHost({ dispatcher: first.app.dispatcher, bus: first.app.bus, staticDir: RENDERER_OUT });
    const browser = await launchChromium();
    try {
      const { page, marks, navWall, rowsInDom } = await openFleet(browser, host.openUrl, input.instances.total, log);
      const fleet = summarize(await fleetRenderTimes(page, input.rounds.ui));
      ui = {
        fleetRender: { ...fleet, target: { rule: "p50 < 100 ms", p50MaxMs: 100, pass: fleet.p50Ms < 100 } },
        fleetNavigation: { firstRowMs: round(marks.firstRow ?? NaN), allListedMs: round(marks.allListed ?? NaN), wallMs: round(navWall), rowsInDom },
        note: "the web host on the app of cold round 1 (20 nodes connected); click on 'All instances' (inventory already in the page) to the rows on screen; navigation: page load to every instance counted (inventory.list of every node over SSH)",
      };
    } finally {
      await browser.close();
      await host.close();
    }
  } finally {
    await close(first);
  }

  for (let r = 2; r <= input.rounds.cold; r++) {
    await floorRound();
    log(`cold round ${r}`);
    const run = await cold(input);
    colds.push(run.steps);
    coldMs.push(run.totalMs);
    await close(run);
  }

  const stepNames = Object.keys(colds[0] ?? {});
  process.stdout.write(
    `${JSON.stringify({
      gcExposed: gc !== undefined,
      cold: summarize(coldMs),
      coldFirstRoundMs: coldMs[0],
      coldSteps: Object.fromEntries(stepNames.map((s) => [s, summarize(colds.map((c) => c[s] ?? NaN))])),
      warm: { clusterView: summarize(warmView), inventoryList: summarize(warmList) },
      floor: summarize(floor),
      floorTwoStep: summarize(floorTwoStep),
      memory: { beforeCompose, composed, clusterLoaded: loaded, afterWarmLoads: afterWarm },
      ui,
    })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
