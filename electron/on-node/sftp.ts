// One SFTP channel per NodeSession, promisified. ssh2 leaves a request
// pending forever if it is issued after the channel closed, and a stalled
// server never answers (mscdex/ssh2#740), so every call here fails fast once
// the channel is gone and carries its own timeout.
import type { SFTPWrapper, Stats } from "ssh2";
import { z } from "zod";
import type { NodeSession } from "../ssh/session.js";

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02) that we act on. */
export const SFTP_STATUS = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, OP_UNSUPPORTED: 8 } as const;

export class SftpError extends Error {
  constructor(
    message: string,
    /** SFTP status code when the server sent one. */
    readonly status: number | undefined,
    readonly path: string | undefined,
  ) {
    super(message);
    this.name = "SftpError";
  }
}

/** The attributes we rely on, checked: a server may omit any of them. */
const statSchema = z.object({
  mode: z.number().int().nonnegative(),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  size: z.number().int().nonnegative(),
  mtime: z.number().int().nonnegative(),
});
export type RemoteStat = z.infer<typeof statSchema> & { isFile: boolean; isDirectory: boolean; isSymbolicLink: boolean };

function toRemoteStat(s: Stats, what: string): RemoteStat {
  const parsed = statSchema.safeParse(s);
  if (!parsed.success) {
    throw new SftpError(
      `The node's SFTP server returned incomplete attributes for ${what} (${parsed.error.issues.map((i) => i.path.join(".")).join(", ")} missing or invalid); cannot check owner, mode and size safely.`,
      undefined,
      what,
    );
  }
  return { ...parsed.data, isFile: s.isFile(), isDirectory: s.isDirectory(), isSymbolicLink: s.isSymbolicLink() };
}

export interface DirEntry {
  name: string;
  stat: RemoteStat | undefined;
}

const DEFAULT_OP_TIMEOUT_MS = 30_000;
/** ssh2's words when a channel is asked for on a connection that is gone or going. */
const LOST_CONNECTION = /not connected|no response from server|connection (lost|closed|reset)|ECONNRESET|EPIPE/i;
/** The largest read asked for at once. */
const READ_CHUNK = 256 * 1024;
/** What the read that should find a file's end asks for. */
const PROBE_BYTES = 4096;
const EMPTY = Buffer.alloc(0);
const channels = new WeakMap<NodeSession, Promise<NodeSftp>>();

export class NodeSftp {
  private closed: Error | undefined;
  private readonly pending = new Set<(err: Error) => void>();

  private constructor(
    readonly session: NodeSession,
    readonly raw: SFTPWrapper,
    readonly opTimeoutMs: number,
  ) {
    const onGone = (why: string) => {
      if (this.closed) return;
      this.closed = new SftpError(`The SFTP channel to ${session.label} ${why}. Reconnect to the node and retry.`, undefined, undefined);
      channels.delete(session);
      for (const rejectPending of [...this.pending]) rejectPending(this.closed);
    };
    raw.on("close", () => onGone("closed"));
    raw.on("end", () => onGone("ended"));
    raw.on("error", (e: Error) => onGone(`failed (${e.message})`));
    session.client.once("close", () => onGone("closed with the SSH connection"));
    // The channel can open in the same moment the connection closes: then that "close" has
    // already gone by, and a request would wait for an answer that never comes.
    if (session.closed) onGone("closed with the SSH connection");
  }

  /** The session's SFTP channel, opened once and shared (OpenSSH's MaxSessions is 10). */
  static for(session: NodeSession, opTimeoutMs = DEFAULT_OP_TIMEOUT_MS): Promise<NodeSftp> {
    let p = channels.get(session);
    if (session.closed) {
      channels.delete(session);
      return Promise.reject(new SftpError(`Cannot open SFTP on ${session.label}: the SSH connection was lost. Reconnect to the node and retry.`, undefined, undefined));
    }
    if (!p) {
      p = session.sftp().then(
        (raw) => new NodeSftp(session, raw, opTimeoutMs),
        (err: Error) => {
          channels.delete(session);
          // A connection that died is not a missing subsystem: say which it was.
          if (session.closed || LOST_CONNECTION.test(err.message)) {
            throw new SftpError(`Cannot open SFTP on ${session.label}: the SSH connection was lost (${err.message}). Reconnect to the node and retry.`, undefined, undefined);
          }
          throw new SftpError(`Cannot open SFTP on ${session.label}: ${err.message}. Check that sshd has an sftp Subsystem.`, undefined, undefined);
        },
      );
      channels.set(session, p);
    }
    return p;
  }

  /** Close this session's SFTP channel (a new one opens on next use). */
  end(): void {
    channels.delete(this.session);
    this.raw.end();
  }

  /** Run one request with a timeout; reject at once if the channel is gone. */
  private call<T>(what: string, path: string | undefined, start: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | undefined, value?: T) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(onClosed);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onClosed = (err: Error) => finish(err);
      this.pending.add(onClosed);
      const timer = setTimeout(
        () => finish(new SftpError(`SFTP ${what}${path ? ` ${path}` : ""} on ${this.session.label} got no answer within ${this.opTimeoutMs} ms. The node may be overloaded or the connection stalled; reconnect and retry.`, undefined, path)),
        this.opTimeoutMs,
      );
      try {
        start((err, value) => finish(err ? this.wrap(err, what, path) : undefined, value));
      } catch (err) {
        finish(this.wrap(err as Error, what, path));
      }
    });
  }

  private wrap(err: Error, what: string, path: string | undefined): SftpError {
    if (err instanceof SftpError) return err;
    const code = (err as { code?: unknown }).code;
    const status = typeof code === "number" ? code : undefined;
    let msg = err.message;
    // ssh2's text when the channel died with requests outstanding.
    if (msg === "No response from server") msg = "the SFTP channel closed before the node answered (connection lost?)";
    return new SftpError(`SFTP ${what}${path ? ` ${path}` : ""} on ${this.session.label} failed: ${msg}`, status, path);
  }

  stat(path: string): Promise<RemoteStat> {
    return this.call<Stats>("stat", path, (cb) => this.raw.stat(path, cb)).then((s) => toRemoteStat(s, path));
  }

  lstat(path: string): Promise<RemoteStat> {
    return this.call<Stats>("lstat", path, (cb) => this.raw.lstat(path, cb)).then((s) => toRemoteStat(s, path));
  }

  fstat(handle: Buffer, path: string): Promise<RemoteStat> {
    return this.call<Stats>("fstat", path, (cb) => this.raw.fstat(handle, cb)).then((s) => toRemoteStat(s, path));
  }

  /** Open for reading (writes go through the node helper, see runtime-store.ts). */
  open(path: string, flags: "r"): Promise<Buffer> {
    return this.call<Buffer>("open", path, (cb) => this.raw.open(path, flags, cb));
  }

  close(handle: Buffer, path: string): Promise<void> {
    return this.call<void>("close", path, (cb) => this.raw.close(handle, cb));
  }

  /** Read up to `length` bytes at `position`; 0 bytes means end of file. */
  read(handle: Buffer, path: string, length: number, position: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    return this.call<number>("read", path, (cb) => this.raw.read(handle, buf, 0, length, position, (err, n) => cb(err, n))).then((n) =>
      buf.subarray(0, n),
    );
  }

  /**
   * An open file from offset 0 to its end, refused with `tooLarge()` past
   * `max` bytes (even if it grows while read). Reads are sized to
   * `expectedSize` (what fstat said), and the read that should find the end
   * goes out beside them, so a file of the expected size costs one round
   * trip and no buffer larger than the file.
   */
  async readToEnd(handle: Buffer, path: string, expectedSize: number, max: number, tooLarge: () => Error): Promise<Buffer> {
    const parts: Buffer[] = [];
    let total = 0;
    let expected = Math.max(0, expectedSize);
    for (;;) {
      const len = Math.min(expected - total, READ_CHUNK, max + 1 - total);
      const probeLen = Math.min(PROBE_BYTES, max + 1 - total - Math.max(len, 0));
      const [data, probe] = await Promise.all([len > 0 ? this.read(handle, path, len, total) : Promise.resolve(EMPTY), probeLen > 0 ? this.read(handle, path, probeLen, total + Math.max(len, 0)) : Promise.resolve(undefined)]);
      parts.push(data);
      total += data.length;
      if (total > max) throw tooLarge();
      // Nothing where data was asked for: the end.
      if (len > 0 && data.length === 0) break;
      // A short read leaves a gap before the probe's offset: ask again from where it stopped.
      if (len > 0 && data.length < len) {
        expected = total;
        continue;
      }
      if (probe === undefined || probe.length === 0) break;
      parts.push(probe);
      total += probe.length;
      if (total > max) throw tooLarge();
      // Past what fstat said (it grew): read on in full chunks.
      if (total >= expected) expected = total + READ_CHUNK;
    }
    return Buffer.concat(parts, total);
  }

  unlink(path: string): Promise<void> {
    return this.call<void>("unlink", path, (cb) => this.raw.unlink(path, cb));
  }

  readdir(path: string): Promise<DirEntry[]> {
    return this.call<{ filename: string; attrs: Stats }[]>("readdir", path, (cb) => this.raw.readdir(path, cb)).then((list) =>
      list.map((e) => {
        let stat: RemoteStat | undefined;
        try {
          stat = toRemoteStat(e.attrs, `${path}/${e.filename}`);
        } catch {
          stat = undefined;
        }
        return { name: e.filename, stat };
      }),
    );
  }
}
