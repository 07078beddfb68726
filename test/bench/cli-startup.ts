// CLI start-up: `hotplug-desk runtime inspect FILE` (the built bundle through
// bin/, as users run it) beside Ganeti's own Python loader reading the same
// file, each a fresh process per run. rusage.py runs them in turn and reports
// wall time and peak RSS from wait4(). Node's and Python's bare start are
// listed too: neither program can start faster than its interpreter.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { percentile, round, summarize } from "./stats.js";

const REPO = resolve(__dirname, "../..");
const PYTHON = "/usr/bin/python3";
const FILE = "/usr/share/ganeti/testsuite/test/data/kvm_runtime.json";
const GANETI_30 = "/usr/share/ganeti/3.0";
const GANETI_31 = join(REPO, ".cache/ganeti-3.1/root/usr/share/ganeti/3.1");

interface Run {
  wallMs: number;
  maxRssKiB: number;
  status: number;
}
interface Command {
  argv: string[];
  env: Record<string, string>;
}

function figures(runs: Run[]): Record<string, unknown> {
  const bad = runs.filter((r) => r.status !== 0);
  if (bad.length) throw new Error(`${bad.length} of ${runs.length} runs exited non-zero (status ${bad[0]?.status})`);
  return { ...summarize(runs.map((r) => r.wallMs)), rssMiBp50: round(percentile(runs.map((r) => r.maxRssKiB), 50) / 1024, 1) };
}

export async function benchCliStartup(opts: { runs: number; log: (l: string) => void }): Promise<Record<string, unknown>> {
  for (const [what, path] of [["Ganeti's upstream test file (ganeti-testsuite)", FILE], ["Ganeti 3.0's code (ganeti-3.0)", GANETI_30], [PYTHON, PYTHON]] as const) {
    if (!existsSync(path)) throw new Error(`${path} is missing: ${what} is needed (scripts/system-packages.sh installs it)`);
  }
  opts.log("cli: building the CLI bundle");
  execFileSync(process.execPath, [join(REPO, "scripts/build-cli.mjs")], { cwd: REPO, stdio: "inherit" });
  const env = { PATH: "/usr/bin:/bin" };
  const loader = (root: string): Command => ({
    argv: [PYTHON, "-c", "import sys; from ganeti.hypervisor import hv_kvm; hv_kvm._AnalyzeSerializedRuntime(open(sys.argv[1]).read())", FILE],
    env: { ...env, PYTHONPATH: root },
  });
  const commands: Record<string, Command> = {
    app: { argv: [process.execPath, join(REPO, "bin/hotplug-desk.cjs"), "runtime", "inspect", FILE], env },
    ganeti30: loader(GANETI_30),
    nodeBare: { argv: [process.execPath, "-e", "0"], env },
    pythonBare: { argv: [PYTHON, "-c", "0"], env },
  };
  if (existsSync(join(GANETI_31, "ganeti/hypervisor/hv_kvm/kvm_runtime.py"))) {
    commands.ganeti31 = {
      argv: [PYTHON, "-c", "import sys; from ganeti.hypervisor.hv_kvm.kvm_runtime import KVMRuntime; KVMRuntime.from_serialized(open(sys.argv[1]).read())", FILE],
      env: { ...env, PYTHONPATH: GANETI_31 },
    };
  }
  opts.log(`cli: ${opts.runs} rounds of ${Object.keys(commands).join(", ")}`);
  const out = execFileSync(PYTHON, [join(__dirname, "rusage.py")], { input: JSON.stringify({ commands, runs: opts.runs }), encoding: "utf8", maxBuffer: 1 << 24 });
  const runs = JSON.parse(out) as Record<string, Run[]>;
  const result: Record<string, unknown> = {};
  for (const [name, r] of Object.entries(runs)) result[name] = figures(r);
  const p50 = (name: string) => Number((result[name] as { p50Ms: number }).p50Ms);
  return {
    file: FILE,
    command: "hotplug-desk runtime inspect FILE (bin/hotplug-desk.cjs on the built bundle), each run a fresh process",
    ...result,
    ratioToGaneti30: round(p50("app") / p50("ganeti30")),
    target: { goal: "faster than Ganeti 3.0's own loader on the same file (p50)", pass: p50("app") < p50("ganeti30") },
  };
}
