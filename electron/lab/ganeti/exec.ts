// Running programs for the Ganeti lab: on the machine, or as a lab node
// (inside its network, mount and UTS namespaces, entered with nsenter).
// Always argument vectors; no shell.
import { execFile } from "node:child_process";
import { paths, type LabNodeSpec } from "./layout.js";

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${argv.join(" ")} failed (${code ?? "killed"}): ${(stderr.trim() || stdout.trim()).slice(-2000)}`);
    this.name = "CommandError";
  }
}

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error("run: empty argv"));
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 32 * 1024 * 1024, timeout: opts.timeoutMs ?? 300_000, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
        reject(new CommandError(argv, e.killed ? null : (e.code ?? null), stdout, stderr));
      } else resolve({ stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** The argv that runs `argv` as lab node `n`. */
export function nodeArgv(n: LabNodeSpec, argv: readonly string[]): string[] {
  return ["nsenter", `--net=${paths.netnsFile(n)}`, `--mount=${paths.mountNs(n)}`, `--uts=${paths.utsNs(n)}`, "--", ...argv];
}

export function runOnNode(n: LabNodeSpec, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(nodeArgv(n, argv), opts);
}
