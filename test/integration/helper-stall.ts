// Holds the lab node's real node helper at one of its system calls, with
// strace's fault injection (a delay at the syscall's entry or exit), so a
// test can act at an exact point of a node-side step: kill the helper right
// after its rename, write garbage into its answer pipe, cut the connection.
// Not a fake: the helper, its syscalls and its pipes are the real ones; the
// delay is what a slow disk or a stopped process looks like from outside.
// Not a test file itself (write-outcome.test.ts uses it).
import { spawn } from "node:child_process";
import { readFile, readlink, open } from "node:fs/promises";
import { descendantsOf } from "../../electron/lab/processes.js";

export const STRACE = "/usr/bin/strace";

/** The node helpers (`python3 -c <node_helper.py> serve`) running under the lab's sshd. */
export async function helperPids(sshdPid: number): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await descendantsOf(sshdPid)) {
    try {
      const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
      if (/python3$/.test(argv[0] ?? "") && argv[1] === "-c" && argv[3] === "serve") out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export interface Stall {
  /** Resolves with the syscall's line as strace printed it, once the helper is held there. */
  hit: Promise<string>;
  /** Ends strace (the helper goes on, unless it was killed). */
  stop(): Promise<void>;
}

/**
 * Attach strace to `pid` and hold its `nth` (1 = the next) call of
 * `syscall` for `ms`: at entry (before the kernel does it) or at exit
 * (after). Resolves once strace is attached.
 */
export async function stallAt(pid: number, syscall: string, at: "enter" | "exit", opts: { ms?: number; nth?: number } = {}): Promise<Stall> {
  const us = (opts.ms ?? 10_000) * 1000;
  const when = opts.nth && opts.nth > 1 ? `:when=${opts.nth}` : "";
  const child = spawn(STRACE, ["-p", String(pid), "-e", `trace=${syscall}`, "-e", `inject=${syscall}:delay_${at}=${us}${when}`], { stdio: ["ignore", "ignore", "pipe"] });
  let text = "";
  let seen = 0;
  let onHit: (line: string) => void = () => undefined;
  let failHit: (e: Error) => void = () => undefined;
  const hit = new Promise<string>((resolve, reject) => {
    onHit = resolve;
    failHit = reject;
  });
  hit.catch(() => undefined);
  const attached = new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      text += chunk;
      if (/Process \d+ attached/.test(text)) resolve();
      // strace prints the call at its entry (no result, no newline yet) and adds the result at its exit:
      // held at entry, the call has not happened; held at exit, only once the result is there.
      const calls = text
        .split(new RegExp(`(?=${syscall}\\()`))
        .filter((s) => s.startsWith(`${syscall}(`))
        .filter((s) => at === "enter" || /\) += -?\d/.test(s));
      if (calls.length > seen) {
        seen = calls.length;
        if (seen >= (opts.nth ?? 1)) onHit(calls[(opts.nth ?? 1) - 1]!.split("\n")[0]!);
      }
    });
    child.once("exit", (code) => {
      const e = new Error(`strace on ${pid} ended (${code}): ${text.trim().slice(0, 500)}`);
      reject(e);
      failHit(e);
    });
  });
  await attached;
  return {
    hit,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await gone;
    },
  };
}

/** Writes `bytes` into the pipe the helper answers on (its stdout), as if the helper had written them. */
export async function writeIntoAnswerPipe(pid: number, bytes: string): Promise<void> {
  const target = await readlink(`/proc/${pid}/fd/1`);
  if (!target.startsWith("pipe:")) throw new Error(`the helper's stdout is ${target}, not a pipe`);
  const fh = await open(`/proc/${pid}/fd/1`, "w");
  try {
    await fh.write(bytes);
  } finally {
    await fh.close();
  }
}
