// The cluster case: a synthetic Ganeti 3.0.2 cluster of 20 sshd nodes and
// 300 instances (cluster-lab.ts), discovered from one node and loaded whole
// by the app in a child process (cluster-app.ts): cold (add one node, discover,
// add the others, every instance's view), warm refresh, main-process RSS with
// the cluster loaded, and the fleet in Chromium. The floor is OpenSSH's
// client reading the same files on every node at once.
import { execFile, execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { LabNode } from "../../electron/lab/node.js";
import { TSX_NODE_FLAGS } from "../support/tsx.js";
import { startClusterLab } from "./cluster-lab.js";
import type { ClusterAppInput } from "./cluster-app.js";
import { round, summarize } from "./stats.js";

const REPO = resolve(__dirname, "../..");

export interface ClusterBenchOptions {
  lab: LabNode;
  log: (line: string) => void;
  nodes?: number;
  instances?: number;
  running?: number;
}

type Obj = Record<string, unknown>;
const num = (o: unknown, ...path: string[]): number => Number(path.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Obj)[k] : undefined), o));

function runChild(inputPath: string, log: (l: string) => void): Promise<Obj> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      process.execPath,
      ["--expose-gc", ...TSX_NODE_FLAGS, join(__dirname, "cluster-app.ts"), inputPath],
      { cwd: REPO, timeout: 240_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`cluster child failed: ${stderr.trim().split("\n").slice(-15).join("\n") || err.message}`));
        else resolvePromise(JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as Obj);
      },
    );
    child.stderr?.on("data", (d: Buffer) => {
      for (const line of d.toString("utf8").split("\n")) if (line.startsWith("[cluster app]")) log(line.slice(14));
    });
  });
}

/** The built CLI, a fresh process per run, as users run it: wall time of each run; its JSON must hold `expected` instances. */
async function cliRuns(args: string[], runs: number, expected: (out: unknown) => string | undefined): Promise<number[]> {
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const stdout = await new Promise<string>((resolvePromise, reject) =>
      execFile(process.execPath, [join(REPO, "bin/hotplug-desk.cjs"), ...args], { cwd: REPO, timeout: 60_000, maxBuffer: 64 << 20 }, (err, out, stderr) => (err ? reject(new Error(`hotplug-desk ${args.slice(0, 2).join(" ")}: ${stderr.trim() || err.message}`)) : resolvePromise(out))),
    );
    ms.push(performance.now() - t0);
    const wrong = expected(JSON.parse(stdout));
    if (wrong) throw new Error(`hotplug-desk ${args.slice(0, 2).join(" ")}: ${wrong}`);
  }
  return ms;
}

/** The CLI's inventory of the first node and its cluster show, directly and through a ProxyCommand (socat, as the Ganeti lab's route). */
async function benchCli(cluster: Awaited<ReturnType<typeof startClusterLab>>, log: (l: string) => void): Promise<Obj> {
  log("cluster: the CLI (inventory, cluster show), directly and through a ProxyCommand");
  execFileSync(process.execPath, [join(REPO, "scripts/build-cli.mjs")], { cwd: REPO, stdio: "inherit" });
  const first = cluster.nodes[0]!;
  const node = ["--node", `${cluster.user}@${first.address}:${first.port}`, "-i", cluster.keyPath, "--known-hosts", cluster.knownHostsPath, "--root", cluster.root, "--json"];
  const proxy = ["--proxy-command", "socat STDIO TCP:%h:%p"];
  const instances = (n: number) => (out: unknown) => {
    const got = Array.isArray(out) ? out.length : ((out as { instances?: unknown[] }).instances?.length ?? -1);
    return got === n ? undefined : `${got} instances, expected ${n}`;
  };
  const runs = 5;
  const inventory = instances(first.instances.length);
  const whole = instances(cluster.instances.total);
  return {
    command: "hotplug-desk inventory|cluster show --node root@ADDR:PORT -i KEY --known-hosts FILE --root ROOT --json [--proxy-command 'socat STDIO TCP:%h:%p'], the built bundle, a fresh process per run",
    inventoryDirect: summarize(await cliRuns(["inventory", ...node], runs, inventory)),
    inventoryProxy: summarize(await cliRuns(["inventory", ...node, ...proxy], runs, inventory)),
    clusterShowDirect: summarize(await cliRuns(["cluster", "show", ...node], 3, whole)),
    clusterShowProxy: summarize(await cliRuns(["cluster", "show", ...node, ...proxy], 3, whole)),
    instancesOnFirstNode: first.instances.length,
  };
}

export async function benchCluster(opts: ClusterBenchOptions): Promise<Obj> {
  const { log } = opts;
  const nodes = opts.nodes ?? 20;
  const t0 = Date.now();
  const cluster = await startClusterLab({ lab: opts.lab, nodes, instances: opts.instances ?? 300, running: opts.running ?? nodes, log });
  const setupS = round((Date.now() - t0) / 1000, 1);
  log(`cluster: set up in ${setupS} s`);
  try {
    const input: ClusterAppInput = {
      name: cluster.name,
      root: cluster.root,
      user: cluster.user,
      keyPath: cluster.keyPath,
      knownHostsLines: cluster.knownHostsLines,
      knownHostsPath: cluster.knownHostsPath,
      nodes: cluster.nodes,
      offline: cluster.offline,
      instances: cluster.instances,
      rounds: { cold: 5, warm: 10, ui: 20 },
    };
    const inputPath = join(opts.lab.root, "cluster-bench-input.json");
    await writeFile(inputPath, JSON.stringify(input));
    const m = await runChild(inputPath, log);
    const cli = await benchCli(cluster, log);
    const coldRatio = round(num(m, "cold", "p50Ms") / num(m, "floor", "p50Ms"));
    const rss = num(m, "memory", "clusterLoaded", "rssMiB");
    const rssMax = Math.max(rss, num(m, "memory", "afterWarmLoads", "rssMiB"));
    const fleetP50 = num(m, "ui", "fleetRender", "p50Ms");
    return {
      what: "a Ganeti 3.0.2 cluster discovered from one node: nodes.add of the first node (its key, and every node's, already in the app's known_hosts), cluster.discover, cluster.addNodes of the others, every node connected, cluster.discover again with every instance's view (runtime file, live bus of the running ones, three ways against config.data); each cold round in a new app",
      cluster: {
        nodes: nodes + cluster.offline.length,
        reachable: nodes,
        offline: cluster.offline.length,
        masterCandidates: cluster.nodes.filter((n) => n.masterCandidate).length,
        groups: Math.ceil(nodes / 10),
        instances: cluster.instances,
        configDataKiB: round(cluster.configDataBytes / 1024, 1),
        nodeRoots: "loopback sshd per node (127.0.0.11 up), each in a private mount namespace with its root bound at one path, as every real node has its files at /",
        setupS,
      },
      floor: {
        what: "`ssh -i KEY -p PORT root@ADDR cat <files>` on every node at once (OpenSSH client, new connections): the ssconf files, known_hosts, config.data on master candidates, _constants.py, the host name and the node's runtime files",
        ...(m.floor as Obj),
        twoStep: { ...(m.floorTwoStep as Obj), note: "the first node's cluster files, then every node's files at once: discovery cannot know the nodes before it read the first" },
      },
      cold: { ...(m.cold as Obj), firstRoundMs: m.coldFirstRoundMs, steps: m.coldSteps, ratio: coldRatio },
      warm: { ...(m.warm as Obj), ratioClusterView: round(num(m, "warm", "clusterView", "p50Ms") / num(m, "floor", "p50Ms")), note: "with every node connected: cluster.discover of the whole cluster, inventory.list of every node" },
      memory: { ...(m.memory as Obj), note: "RSS of a fresh Node process (tsx) composing the app, after gc: before composing, composed, the whole cluster loaded (cold round 1), after the warm loads" },
      ui: m.ui,
      cli,
      target: {
        rule: "whole cluster cold within 2x its floor (p50), fleet render p50 < 100 ms, main RSS < 250 MiB with the cluster loaded",
        coldRatio,
        passCold: coldRatio <= 2,
        fleetP50Ms: fleetP50,
        passFleet: fleetP50 < 100,
        rssMiB: rssMax,
        passRss: rssMax < 250,
        pass: coldRatio <= 2 && fleetP50 < 100 && rssMax < 250,
      },
    };
  } finally {
    await cluster.stop();
  }
}
