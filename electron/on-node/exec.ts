// Commands on a node over `ssh exec`. The command string always comes from
// remoteCommand(argv): every argument is quoted, so input never becomes
// shell syntax. Results are plain data; callers validate stdout with zod.
import type { ClientChannel } from "ssh2";
import type { NodeSession } from "../ssh/session.js";
import { remoteCommand } from "../../shared/on-node/remote-command.js";

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed (EOF). */
  stdin?: string | Buffer;
  /** Whole-command limit; on expiry the channel is closed. Default 30 s. */
  timeoutMs?: number;
  /** Limit for stdout and stderr each, in bytes. Default 1 MiB. */
  maxOutput?: number;
  /** Called with stdout as it arrives (a long command's progress); the whole is still in the result. */
  onStdout?: (chunk: Buffer) => void;
}

export interface ExecResult {
  /** Exit status; null when the command died from a signal or sshd sent none. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  constructor(
    message: string,
    readonly argv: readonly string[],
  ) {
    super(message);
    this.name = "ExecError";
  }
}

export class ExecTimeoutError extends ExecError {
  constructor(argv: readonly string[], label: string, timeoutMs: number) {
    super(
      `${describeArgv(argv)} on ${label} did not finish within ${timeoutMs} ms; the channel was closed. Check the node's load, or raise the timeout for this command.`,
      argv,
    );
    this.name = "ExecTimeoutError";
  }
}

export class ExecOutputLimitError extends ExecError {
  constructor(argv: readonly string[], label: string, stream: "stdout" | "stderr", limit: number) {
    super(
      `${describeArgv(argv)} on ${label} wrote more than ${limit} bytes to ${stream}; the channel was closed. This output is not what we expect from the node: inspect the command by hand.`,
      argv,
    );
    this.name = "ExecOutputLimitError";
  }
}

/** A short, readable form of argv for messages (not for execution). */
export function describeArgv(argv: readonly string[]): string {
  // A script passed inline (python3 -c ...) is named, not shown.
  const shown = (a: string) => (a.includes("\n") || a.length > 80 ? `<${a.includes("\n") ? "script" : "text"}, ${a.length} chars>` : /^[\w./:=@%+-]+$/.test(a) ? a : JSON.stringify(a));
  const s = argv.map(shown).join(" ");
  return `"${s.length > 120 ? `${s.slice(0, 117)}...` : s}"`;
}

/** Open an exec channel for argv. The caller owns the channel. */
export function openExec(session: NodeSession, argv: readonly string[]): Promise<ClientChannel> {
  const command = remoteCommand(argv);
  return new Promise((resolve, reject) => {
    try {
      session.client.exec(command, (err, channel) => {
        if (!err) return resolve(channel);
        // A connection that is going refuses the exec before it says it closed: tell that apart from a node that refuses.
        void session.lostWithin(100).then((lost) =>
          reject(
            new ExecError(
              lost ? `Cannot start ${describeArgv(argv)} on ${session.label}: the SSH connection was lost (${err.message}). Reconnect to the node.` : `Cannot start ${describeArgv(argv)} on ${session.label}: ${err.message}`,
              argv,
            ),
          ),
        );
      });
    } catch (err) {
      // ssh2 throws synchronously ("Not connected") when the connection is gone.
      reject(new ExecError(`Cannot start ${describeArgv(argv)} on ${session.label}: ${(err as Error).message}. Reconnect to the node.`, argv));
    }
  });
}

/** Stop a remote command: ask sshd to signal it, then close the channel. */
export function abortChannel(channel: ClientChannel): void {
  try {
    // OpenSSH >= 7.9 honours "signal" requests; ssh2 sends one only while
    // our stdin side is open. Otherwise the process just sees its pipes close.
    channel.signal("KILL");
  } catch {
    // The channel is already closed.
  }
  try {
    channel.close();
  } catch {
    // Already closed.
  }
}

export async function execOnNode(session: NodeSession, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxOutput = options.maxOutput ?? 1024 * 1024;
  const started = Date.now();
  const opening = openExec(session, argv);
  const channel = await withTimeout(opening, timeoutMs, () => {
    // A channel that opens after we gave up must not linger on the node.
    opening.then(abortChannel, () => undefined);
    return new ExecTimeoutError(argv, session.label, timeoutMs);
  });

  return new Promise<ExecResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let code: number | null = null;
    let signal: string | null = null;
    let sawExit = false;
    let failure: Error | undefined;

    // On timeout or overflow we answer at once rather than waiting for the
    // channel to close: sshd completes the close only when the remote
    // process exits, and ssh2 sends the KILL signal request only while our
    // side of stdin is still open (after EOF it silently skips it). A
    // command that ignores its closed pipes therefore runs on until it ends
    // by itself; long-running commands should carry their own limit.
    const fail = (e: Error) => {
      if (failure) return;
      failure = e;
      clearTimeout(timer);
      abortChannel(channel);
      reject(e);
    };
    const timer = setTimeout(() => fail(new ExecTimeoutError(argv, session.label, timeoutMs)), Math.max(0, timeoutMs - (Date.now() - started)));

    channel.on("data", (chunk: Buffer) => {
      outLen += chunk.length;
      if (outLen > maxOutput) return fail(new ExecOutputLimitError(argv, session.label, "stdout", maxOutput));
      out.push(chunk);
      try {
        options.onStdout?.(chunk);
      } catch {
        // A broken listener must not break the command it watches.
      }
    });
    channel.stderr.on("data", (chunk: Buffer) => {
      errLen += chunk.length;
      if (errLen > maxOutput) return fail(new ExecOutputLimitError(argv, session.label, "stderr", maxOutput));
      err.push(chunk);
    });
    channel.on("exit", (c: number | null, s?: string) => {
      sawExit = true;
      code = typeof c === "number" ? c : null;
      signal = typeof s === "string" ? s : null;
    });
    channel.on("close", () => {
      clearTimeout(timer);
      if (failure) return;
      if (!sawExit) {
        return reject(
          new ExecError(
            `${describeArgv(argv)} on ${session.label} ended without an exit status: the SSH connection was probably lost. Reconnect and check whether the command ran.`,
            argv,
          ),
        );
      }
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    channel.on("error", (e: Error) => fail(new ExecError(`${describeArgv(argv)} on ${session.label}: ${e.message}`, argv)));

    if (options.stdin !== undefined) channel.end(options.stdin);
    else channel.end();
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
