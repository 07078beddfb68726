// The CLI as users run it (not a test file itself): bin/hotplug-desk.cjs on
// the bundle scripts/build-cli.mjs makes. Each test file builds it once, so
// it never runs a stale bundle.
import { execFile, execFileSync, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(__dirname, "../..");
export const CLI_BIN = path.join(REPO, "bin/hotplug-desk.cjs");

export interface Metafile {
  outputs: Record<string, { imports: { path: string; kind: string }[]; inputs: Record<string, unknown> }>;
}

let metafile: Metafile | undefined;

/** Builds out/cli (once per test file) and returns esbuild's metafile of that build. */
export function buildCli(): Metafile {
  if (!metafile) {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "hd-cli-meta-")), "meta.json");
    execFileSync(process.execPath, [path.join(REPO, "scripts/build-cli.mjs"), "--metafile", file], { cwd: REPO, stdio: ["ignore", "inherit", "inherit"] });
    metafile = JSON.parse(readFileSync(file, "utf8")) as Metafile;
  }
  return metafile;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/hotplug-desk.cjs with node (cwd: a fresh temp directory unless given). */
export function runCli(args: string[], opts: SpawnSyncOptions = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], {
    cwd: mkdtempSync(path.join(os.tmpdir(), "hd-cli-cwd-")),
    encoding: "utf8",
    timeout: 60_000,
    ...opts,
  });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * runCli without blocking this process: for tests that hold SSH channels
 * open meanwhile (a QMP socket serves one client, and a blocked event loop
 * would not send the close of one the test just finished with).
 */
export function runCliAsync(args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_BIN, ...args], { cwd: mkdtempSync(path.join(os.tmpdir(), "hd-cli-cwd-")), encoding: "utf8", timeout: opts.timeout ?? 60_000, env: opts.env ?? process.env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
