// Child processes the lab owns. Every process is tracked so teardown can
// prove that nothing outlives the fixture.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";

export interface LabProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

const OUTPUT_LIMIT = 64 * 1024;

export function startProcess(name: string, file: string, args: string[], options: SpawnOptions = {}): LabProcess {
  const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let out = "";
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (err) => {
      out += `\n${String(err)}`;
      resolve({ code: -1, signal: null });
    });
  });
  return { name, child, exited, output: () => out };
}

/** TERM, then KILL after a grace period. Resolves when the process is gone. */
export async function stopProcess(p: LabProcess, graceMs = 3000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), graceMs);
  await p.exited;
  clearTimeout(timer);
}

export function runCommand(file: string, args: string[], options: SpawnOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = startProcess(file, file, args, options);
    void p.exited.then(({ code, signal }) => {
      if (code === 0) resolve(p.output());
      else reject(new Error(`${file} ${args.join(" ")} failed (${code ?? signal}): ${p.output().trim()}`));
    });
  });
}

/** PIDs of live processes whose command line mentions `needle` (e.g. a lab root). */
export async function processesMentioning(needle: string): Promise<{ pid: number; cmdline: string }[]> {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0").join(" ").trim();
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // A zombie has already exited; it is only waiting to be reaped.
      if (/\) Z /.test(stat)) continue;
      if (cmdline.includes(needle)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** All descendants of a process (children, grandchildren, ...), from /proc. */
export async function descendantsOf(rootPid: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // Field 4 is the ppid; the command name (field 2) may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const frontier = [rootPid];
  while (frontier.length > 0) {
    const p = frontier.pop()!;
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        frontier.push(child);
      }
    }
  }
  return out;
}
