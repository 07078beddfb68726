// A per-instance operation lock that lives ON THE NODE, so it holds across
// app windows and machines, and dies with the SSH connection that took it.
//
// Mechanism: the session's long-lived node helper (node-helper.ts) takes
// flock(2) on <locks dir>/<instance>.lock and keeps the file open; it
// records who holds it in <lockfile>.holder. Taking it is one request on a
// channel that is already open (about a millisecond), where a fresh exec
// per lock cost an SSH round trip plus a login shell.
// The lock ends (the helper closes the file) when:
//   - we release it (an "unlock" request);
//   - the SSH connection dies: sshd closes the helper's stdin, it exits;
//   - no heartbeat arrived for `staleAfterS` seconds: a connection that
//     vanished silently (laptop asleep, network cut) would otherwise keep
//     the lock until sshd notices, which without ClientAliveInterval is the
//     TCP keepalive time (hours). The helper then says so with an event.
// The holder learns of a lost lock through `lost`.
import { hostname, userInfo } from "node:os";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { NodeSession } from "../ssh/session.js";
import { assertInstanceName, normalizeRoot } from "../../shared/on-node/layout.js";
import { callNodeHelper, callNodeHelperOn, type HelperLink } from "./node-helper.js";

export const LOCKS_SUBDIR = "var/run/hotplug-desk/locks";
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
  /** A file to read (sha256, size) right after the lock is taken, in the same request. */
  check?: string;
  /** Also bring back the bytes of `check` (a regular file of at most 16 MiB): a plan made from them is made under the lock. */
  read?: boolean;
}

/** What the lock request read of the runtime file once the lock was held (bytes only when asked). */
export type CheckedFile = { sha256: string; size: number; regular: boolean; bytes?: Buffer } | null;

export class HeldLock {
  private released = false;
  private gone = false;
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private endLost: (why: string) => void = () => undefined;
  /** Resolves (never rejects) once the lock has ended, released or lost. */
  readonly lost: Promise<Error>;

  constructor(
    readonly instance: string,
    readonly node: string,
    readonly holder: LockHolder,
    private readonly session: NodeSession,
    private readonly token: string,
    link: HelperLink,
    heartbeatMs: number,
    /** The runtime file as read under the lock (null: it does not exist; undefined: not asked). */
    readonly checked?: CheckedFile,
    /**
     * How long the lock had been free when we took it (ms, the node's clock),
     * or null when the node cannot tell (first use, or the last holder died
     * holding it). A read started less than this long ago saw no operation
     * of ours half done.
     */
    readonly quietMs: number | null = null,
  ) {
    this.heartbeat = setInterval(() => {
      if (this.held) link.heartbeat(token);
    }, heartbeatMs);
    this.heartbeat.unref?.();
    const ended = new Promise<string>((resolve) => (this.endLost = resolve));
    const off = link.onEvent((e) => {
      if (e.event === "lock-dropped" && e.token === token) this.endLost(`the node ended it: ${e.why}`);
    });
    void link.ended.then((why) => this.endLost(why));
    this.lost = ended.then((why) => {
      this.gone = true;
      off();
      clearInterval(this.heartbeat);
      return new InstanceLockError(
        this.released
          ? `The lock on ${instance} at ${node} was released.`
          : `The lock on ${instance} at ${node} was lost (${why}). Another operation may now change the instance; stop and re-check before continuing.`,
      );
    });
  }

  get held(): boolean {
    return !this.gone && !this.released;
  }

  /**
   * For a request that frees the lock on the node as its last act (the
   * runtime write): the token to send, and what to call once the node said
   * it let go.
   */
  handOver(): { token: string; released: () => void } {
    return {
      token: this.token,
      released: () => {
        this.released = true;
        clearInterval(this.heartbeat);
        this.endLost("released");
      },
    };
  }

  /** Free the lock; resolves once the node has let go (or the helper is gone). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.heartbeat);
    if (this.gone) return;
    // A token is random, so an unlock that reaches a restarted helper frees nothing else.
    await callNodeHelper(this.session, "unlock", { token: this.token }, 5_000).catch(() => undefined);
    this.endLost("released");
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
    const holder = lockHolderSchema.parse({ ...whoWeAre(), ...options.holder, startedAt: new Date().toISOString() });
    const started = Date.now();
    for (;;) {
      const attempt = await this.tryOnce(instance, path, holder, options.check, options.read ?? false);
      if (attempt instanceof HeldLock) return attempt;
      const waited = Date.now() - started;
      if (waited >= timeoutMs) throw new InstanceLockedError(instance, this.session.label, parseHolder(attempt.holder), waited);
      await new Promise((r) => setTimeout(r, Math.min(retryMs, timeoutMs - waited)));
    }
  }

  /** One non-blocking try: a HeldLock, or what the holder file says when someone else holds it. */
  private async tryOnce(instance: string, path: string, holder: LockHolder, check: string | undefined, read: boolean): Promise<HeldLock | { holder: string | null }> {
    const token = randomBytes(16).toString("hex");
    const args = { dir: this.dir, path, holder: JSON.stringify(holder), staleAfterS: this.staleAfterS, token, check: check ?? null, read };
    let r: Awaited<ReturnType<typeof callNodeHelperOn<"lock">>>;
    try {
      r = await callNodeHelperOn(this.session, "lock", args, 15_000);
    } catch (err) {
      throw new InstanceLockError(`Cannot take the lock ${path} on ${this.session.label}: ${(err as Error).message}`);
    }
    const out = r.out;
    if (!out.locked) return { holder: out.holder };
    let checked: CheckedFile | undefined;
    if (check !== undefined) {
      const c = out.check;
      checked = c ? { sha256: c.sha256, size: c.size, regular: c.regular, ...(c.content !== undefined ? { bytes: Buffer.from(c.content, "base64") } : {}) } : null;
    }
    return new HeldLock(instance, this.session.label, holder, this.session, token, r.link, this.heartbeatMs, checked, out.quietMs);
  }
}

/** This process as a lock holder (looked up once: the user database is not free). */
let us: Omit<LockHolder, "startedAt"> | undefined;
function whoWeAre(): Omit<LockHolder, "startedAt"> {
  us ??= { app: "hotplug-desk", host: hostname(), pid: process.pid, user: userInfo().username };
  return us;
}

function parseHolder(text: string | null): LockHolder | undefined {
  if (!text) return undefined;
  try {
    const parsed = lockHolderSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
