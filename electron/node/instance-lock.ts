// A per-instance operation lock that lives ON THE NODE, so it holds across
// app windows and machines, and dies with the SSH connection that took it.
//
// Mechanism: one exec channel runs
//   sh -c <TAKE_SCRIPT> <dir> <lockfile> ...
// which creates the lock directory, then execs
//   flock -n -E 75 <lockfile> sh -c <HOLD_SCRIPT> ...
// (one exec per try: each exec costs a round trip and a process start).
// flock(1) takes the kernel lock and keeps it until the script exits. The
// script records who holds it in <lockfile>.holder, prints LOCKED, then
// waits on stdin. It ends (releasing the lock) when:
//   - we close the channel: stdin EOF (release());
//   - the SSH connection dies: sshd closes the session's pipes, stdin EOF;
//   - no heartbeat arrived for `staleAfterS` seconds: a connection that
//     vanished silently (laptop asleep, network cut) would otherwise keep
//     the lock until sshd notices, which without ClientAliveInterval is the
//     TCP keepalive time (hours).
// The holder learns of a lost lock through `lost`.
import { hostname, userInfo } from "node:os";
import type { ClientChannel } from "ssh2";
import { z } from "zod";
import type { NodeSession } from "../ssh/session.js";
import { assertInstanceName, normalizeRoot } from "../../shared/node/layout.js";
import { abortChannel, execOnNode, openExec } from "./exec.js";

export const LOCKS_SUBDIR = "var/run/hotplug-desk/locks";
const CONFLICT_EXIT = 75; // EX_TEMPFAIL, via flock -E
const NO_TIMEOUT_EXIT = 72;
const HOLDER_WRITE_EXIT = 71;
const MKDIR_EXIT = 70;

// Constant script; everything variable arrives as "$1".."$3" (quoted argv).
// `head -c 1` reads at most one byte, so each heartbeat byte is one round;
// EOF or the timeout both give an empty read and end the loop.
const HOLD_SCRIPT = [
  `command -v timeout >/dev/null 2>&1 || { echo "timeout(1) from coreutils is missing on this node" >&2; exit ${NO_TIMEOUT_EXIT}; }`,
  `printf '%s\\n' "$2" > "$1.holder.$$" && mv -f "$1.holder.$$" "$1.holder" || exit ${HOLDER_WRITE_EXIT}`,
  `printf 'LOCKED\\n'`,
  `while [ "$(timeout "$3" head -c 1)" = . ]; do :; done`,
  `rm -f "$1.holder"`,
].join("\n");

// Runs first in the same exec: "$1" lock dir, "$2" lock file, "$3" HOLD_SCRIPT,
// "$4" holder JSON, "$5" staleAfterS. exec keeps flock's exit status (75 on
// conflict, 127 when flock is missing) as the channel's.
const TAKE_SCRIPT = [
  `mkdir -p -- "$1" || exit ${MKDIR_EXIT}`,
  `exec flock -n -E ${CONFLICT_EXIT} "$2" sh -c "$3" hotplug-desk-lock "$2" "$4" "$5"`,
].join("\n");

export const lockHolderSchema = z.object({
  app: z.string().max(200),
  host: z.string().max(300),
  pid: z.number().int().nonnegative(),
  user: z.string().max(200),
  startedAt: z.iso.datetime(),
});
export type LockHolder = z.infer<typeof lockHolderSchema>;

export function describeHolder(h: LockHolder): string {
  return `${h.app} (user ${h.user} on ${h.host}, pid ${h.pid})`;
}

export class InstanceLockedError extends Error {
  constructor(
    readonly instance: string,
    readonly node: string,
    /** Undefined when the holder file was missing or unreadable. */
    readonly holder: LockHolder | undefined,
    waitedMs: number,
  ) {
    super(
      `Instance ${instance} on ${node} is locked by ${holder ? `${describeHolder(holder)} since ${holder.startedAt}` : "another operation (its holder did not say who it is)"}; waited ${Math.round(waitedMs / 100) / 10} s. Wait for that operation to finish, or close the app that holds it; the lock is freed when its SSH connection ends.`,
    );
    this.name = "InstanceLockedError";
  }
}

export class InstanceLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InstanceLockError";
  }
}

export interface InstanceLockOptions {
  /** How often the holder proves it is alive. Default 5 s. */
  heartbeatMs?: number;
  /** The node drops the lock after this long without a heartbeat. Default 30 s. */
  staleAfterS?: number;
}

export interface AcquireOptions {
  /** Keep retrying this long before InstanceLockedError. Default 0 (one try). */
  timeoutMs?: number;
  /** Who we are, for the other side's error message; defaults filled in. */
  holder?: Partial<LockHolder>;
  /** Pause between tries. Default 250 ms. */
  retryMs?: number;
}

export class HeldLock {
  private released = false;
  private gone = false;
  private readonly closed: Promise<void>;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  /** Resolves (never rejects) if the lock ends without release(). */
  readonly lost: Promise<Error>;

  constructor(
    readonly instance: string,
    readonly node: string,
    readonly holder: LockHolder,
    private readonly channel: ClientChannel,
    heartbeatMs: number,
  ) {
    this.heartbeat = setInterval(() => {
      if (this.held) channel.write(".");
    }, heartbeatMs);
    this.heartbeat.unref?.();
    // A write racing the close must not become an unhandled 'error'.
    channel.on("error", () => undefined);
    let exitCode: number | null = null;
    channel.on("exit", (code: number | null) => {
      exitCode = code;
    });
    this.closed = new Promise<void>((resolve) => channel.once("close", () => resolve()));
    this.lost = this.closed.then(() => {
      this.gone = true;
      clearInterval(this.heartbeat);
      return new InstanceLockError(
        this.released
          ? `The lock on ${instance} at ${node} was released.`
          : `The lock on ${instance} at ${node} was lost (${exitCode === null ? "the SSH connection closed" : `the node ended it, exit ${exitCode}: no heartbeat in time`}). Another operation may now change the instance; stop and re-check before continuing.`,
      );
    });
  }

  get held(): boolean {
    return !this.gone && !this.released;
  }

  /** Free the lock; resolves once the node has let go (or the channel is gone). */
  async release(): Promise<void> {
    if (this.released) return this.closed;
    this.released = true;
    clearInterval(this.heartbeat);
    if (this.gone) return;
    try {
      this.channel.end(); // stdin EOF ends the wait; flock then unlocks.
    } catch {
      // Channel already closed.
    }
    const timer = setTimeout(() => abortChannel(this.channel), 5_000);
    await this.closed;
    clearTimeout(timer);
  }
}

export class InstanceLocks {
  readonly dir: string;
  private readonly heartbeatMs: number;
  private readonly staleAfterS: number;

  constructor(
    readonly session: NodeSession,
    root: string,
    options: InstanceLockOptions = {},
  ) {
    const r = normalizeRoot(root);
    this.dir = r === "/" ? `/${LOCKS_SUBDIR}` : `${r}/${LOCKS_SUBDIR}`;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
    this.staleAfterS = options.staleAfterS ?? 30;
    if (!Number.isInteger(this.staleAfterS) || this.staleAfterS < 1) {
      throw new InstanceLockError(`staleAfterS must be a whole number of seconds >= 1 (got ${this.staleAfterS}).`);
    }
  }

  lockPath(instance: string): string {
    return `${this.dir}/${assertInstanceName(instance)}.lock`;
  }

  async acquire(instance: string, options: AcquireOptions = {}): Promise<HeldLock> {
    const path = this.lockPath(instance);
    const timeoutMs = options.timeoutMs ?? 0;
    const retryMs = options.retryMs ?? 250;
    const holder = lockHolderSchema.parse({
      app: "hotplug-desk",
      host: hostname(),
      pid: process.pid,
      user: userInfo().username,
      ...options.holder,
      startedAt: new Date().toISOString(),
    });
    const started = Date.now();
    for (;;) {
      const attempt = await this.tryOnce(instance, path, holder);
      if (attempt) return attempt;
      const waited = Date.now() - started;
      if (waited >= timeoutMs) {
        throw new InstanceLockedError(instance, this.session.label, await this.readHolder(path), waited);
      }
      await new Promise((r) => setTimeout(r, Math.min(retryMs, timeoutMs - waited)));
    }
  }

  /** The current holder as recorded on the node, if any. */
  async readHolder(lockPath: string): Promise<LockHolder | undefined> {
    const r = await execOnNode(this.session, ["cat", "--", `${lockPath}.holder`], { timeoutMs: 10_000, maxOutput: 4096 }).catch(() => undefined);
    if (!r || r.code !== 0) return undefined;
    try {
      const parsed = lockHolderSchema.safeParse(JSON.parse(r.stdout));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** One non-blocking try: a HeldLock, or undefined when someone else holds it. */
  private async tryOnce(instance: string, path: string, holder: LockHolder): Promise<HeldLock | undefined> {
    const argv = ["sh", "-c", TAKE_SCRIPT, "hotplug-desk-lock", this.dir, path, HOLD_SCRIPT, JSON.stringify(holder), String(this.staleAfterS)];
    const channel = await openExec(this.session, argv);
    return new Promise<HeldLock | undefined>((resolve, reject) => {
      let out = "";
      let err = "";
      let code: number | null = null;
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        channel.removeListener("data", onData);
        f();
      };
      const timer = setTimeout(() => {
        abortChannel(channel);
        settle(() => reject(new InstanceLockError(`Taking the lock ${path} on ${this.session.label} got no answer within 15 s; the node may be overloaded. Try again.`)));
      }, 15_000);
      const onData = (d: Buffer) => {
        out += d.toString("utf8");
        if (out.startsWith("LOCKED\n")) {
          settle(() => resolve(new HeldLock(instance, this.session.label, holder, channel, this.heartbeatMs)));
        } else if (out.length > 64) {
          abortChannel(channel);
          settle(() => reject(new InstanceLockError(`Unexpected output while taking ${path} on ${this.session.label}: ${JSON.stringify(out.slice(0, 64))}`)));
        }
      };
      channel.on("data", onData);
      channel.stderr.on("data", (d: Buffer) => {
        if (err.length < 4096) err += d.toString("utf8");
      });
      channel.on("exit", (c: number | null) => {
        code = c;
      });
      channel.once("close", () =>
        settle(() => {
          if (code === CONFLICT_EXIT) return resolve(undefined);
          if (code === MKDIR_EXIT) {
            return reject(new InstanceLockError(`Cannot create the lock directory ${this.dir} on ${this.session.label}: ${err.trim()}`));
          }
          const hint =
            code === 127
              ? "flock(1) (util-linux) is missing on the node"
              : code === NO_TIMEOUT_EXIT
                ? "timeout(1) (coreutils) is missing on the node"
                : code === HOLDER_WRITE_EXIT
                  ? `cannot write ${path}.holder`
                  : code === null
                    ? "the SSH connection closed"
                    : `exit ${code}`;
          reject(new InstanceLockError(`Cannot take the lock ${path} on ${this.session.label}: ${hint}. ${err.trim()}`.trim()));
        }),
      );
    });
  }
}
