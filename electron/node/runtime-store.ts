// A node's KVM runtime files over SFTP: list instances, read a runtime file,
// and replace it atomically with a compare-and-swap against the bytes the
// change was planned from.
import { randomBytes } from "node:crypto";
import type { NodeSession } from "../ssh/session.js";
import { assertInstanceName, instancePaths, kvmLayout } from "../../shared/node/layout.js";
import { NodeSftp, SFTP_STATUS, SftpError, type RemoteStat } from "./sftp.js";

/** Runtime files are a few KiB; anything near this is not one. */
export const MAX_RUNTIME_BYTES = 16 * 1024 * 1024;
/** Ganeti creates runtime files 0600 (utils.WriteFile via mkstemp). */
export const RUNTIME_MODE = 0o600;
const READ_CHUNK = 256 * 1024;
const TEMP_SUFFIX = ".hotplug-desk.new";
/** `.<name>.runtime.<16 hex>.hotplug-desk.new`: only files we made match. */
const TEMP_NAME = /^\.([A-Za-z0-9][A-Za-z0-9._-]{0,252})\.runtime\.[0-9a-f]{16}\.hotplug-desk\.new$/;

export interface InstanceFiles {
  hasRuntime: boolean;
  hasQmp: boolean;
  hasKvmd: boolean;
  /** ctrl/<name>.shutdown exists: the user shut the instance down from inside. */
  userShutdown: boolean;
}

export interface RuntimeFile {
  text: string;
  bytes: Buffer;
  /** SFTP v3 carries whole seconds only, so this is a multiple of 1000. */
  mtimeMs: number;
  mode: number;
  uid: number;
  gid: number;
}

/** The file is not what the change was planned from. Nothing was written. */
export class RuntimeChangedError extends Error {
  constructor(
    readonly path: string,
    readonly node: string,
    readonly detail: string,
  ) {
    super(
      `${path} on ${node} changed since the plan was made (${detail}): someone else, Ganeti included, wrote it in the meantime. Nothing was written. Re-read the file and plan the change again.`,
    );
    this.name = "RuntimeChangedError";
  }
}

export class RuntimeFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuntimeFileError";
  }
}

function isValidInstanceName(name: string): boolean {
  try {
    assertInstanceName(name);
    return true;
  } catch {
    return false;
  }
}

function isMissing(err: unknown): boolean {
  return err instanceof SftpError && err.status === SFTP_STATUS.NO_SUCH_FILE;
}

export class RuntimeStore {
  constructor(
    readonly session: NodeSession,
    /** How the journal names this node; defaults to user@host:port. */
    readonly nodeId: string = session.label,
  ) {}

  private sftp(): Promise<NodeSftp> {
    return NodeSftp.for(this.session);
  }

  /** Instances known on the node from conf/*.runtime and ctrl/*.{qmp,kvmd,shutdown}. */
  async listInstances(root: string): Promise<Map<string, InstanceFiles>> {
    const layout = kvmLayout(root);
    const sftp = await this.sftp();
    const conf = await sftp.readdir(layout.conf).catch((err: unknown) => {
      if (isMissing(err)) {
        throw new RuntimeFileError(
          `${layout.conf} does not exist on ${this.session.label}: this is not a Ganeti KVM node, or the node root (${layout.root}) is wrong.`,
        );
      }
      throw err;
    });
    // ctrl/ appears with the first started instance; its absence means none run.
    const ctrl = await sftp.readdir(layout.ctrl).catch((err: unknown) => {
      if (isMissing(err)) return [];
      throw err;
    });
    const found = new Map<string, InstanceFiles>();
    const entry = (name: string): InstanceFiles => {
      let e = found.get(name);
      if (!e) {
        e = { hasRuntime: false, hasQmp: false, hasKvmd: false, userShutdown: false };
        found.set(name, e);
      }
      return e;
    };
    for (const { name } of conf) {
      if (!name.endsWith(".runtime")) continue;
      const inst = name.slice(0, -".runtime".length);
      // Temp files start with "." and fail the name check, as does junk.
      if (isValidInstanceName(inst)) entry(inst).hasRuntime = true;
    }
    for (const { name } of ctrl) {
      const m = /^(.*)\.(qmp|kvmd|shutdown)$/.exec(name);
      if (!m || !isValidInstanceName(m[1] ?? "")) continue;
      const e = entry(m[1] as string);
      if (m[2] === "qmp") e.hasQmp = true;
      else if (m[2] === "kvmd") e.hasKvmd = true;
      else e.userShutdown = true;
    }
    return new Map([...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  async readRuntimeFile(root: string, name: string): Promise<RuntimeFile> {
    const path = instancePaths(root, name).runtime;
    const sftp = await this.sftp();
    const handle = await sftp.open(path, "r").catch((err: unknown) => {
      if (isMissing(err)) {
        throw new RuntimeFileError(`${path} does not exist on ${this.session.label}: instance ${name} is not running there (or the node root is wrong).`);
      }
      throw err;
    });
    try {
      const st = await sftp.fstat(handle, path);
      this.checkRegular(st, path);
      const bytes = await this.readAll(sftp, handle, path);
      return { text: bytes.toString("utf8"), bytes, mtimeMs: st.mtime * 1000, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    } finally {
      await sftp.close(handle, path).catch(() => undefined);
    }
  }

  /**
   * Replace the runtime file of `name` with `content`, atomically, only if
   * the file still holds exactly `expected` (the bytes the change was
   * planned from). Returns the bytes it replaced (equal to `expected`).
   *
   * Steps on the node: create `.<name>.runtime.<random>.hotplug-desk.new`
   * (O_EXCL, 0600) beside the file, write, fsync, give it the old file's
   * owner, re-read the target and compare, then rename(2) over it.
   *
   * Compare-and-swap window: SFTP has no conditional rename, so between the
   * server reading the target for the final compare and the server renaming
   * our temp over it, another writer can still replace the file and lose its
   * change. We keep that window to one round trip: the rename is sent as
   * soon as the compare passes, before anything else (even closing the read
   * handle). Ganeti itself writes runtime files only while it holds its own
   * instance operation, so the practical race is with a Ganeti job that
   * starts within that round trip.
   *
   * Durability: the temp file is fsynced, but the directory cannot be
   * fsynced over SFTP (there is no request for it), so after a power loss
   * right after the rename the node may come back with the old file. It is
   * never a partial one.
   */
  async writeRuntimeFile(root: string, name: string, content: string | Buffer, options: { expected: Buffer }): Promise<{ previous: Buffer }> {
    const paths = instancePaths(root, name);
    const target = paths.runtime;
    const dir = kvmLayout(root).conf;
    const data = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    if (!Buffer.isBuffer(options?.expected)) {
      throw new RuntimeFileError(`Writing ${target} needs the bytes the change was planned from (options.expected); read the file first.`);
    }
    if (data.length > MAX_RUNTIME_BYTES) {
      throw new RuntimeFileError(`Refusing to write ${data.length} bytes to ${target}: a runtime file is at most ${MAX_RUNTIME_BYTES} bytes. The new content is wrong.`);
    }
    const sftp = await this.sftp();

    // Early check, so a stale plan fails before anything is created.
    const before = await this.readExact(sftp, target);
    if (!before.bytes.equals(options.expected)) {
      throw new RuntimeChangedError(target, this.session.label, describeDifference(options.expected, before.bytes));
    }

    const temp = `${dir}/.${name}.runtime.${randomBytes(8).toString("hex")}${TEMP_SUFFIX}`;
    let handle: Buffer | undefined;
    let created = false;
    try {
      handle = await sftp.open(temp, "wx", RUNTIME_MODE);
      created = true;
      await sftp.write(handle, temp, data, 0);
      await sftp.fsync(handle, temp).catch((err: unknown) => {
        if (err instanceof SftpError && err.status === undefined && /does not support/.test(err.message)) {
          throw new RuntimeFileError(`The SFTP server on ${this.session.label} does not support fsync@openssh.com; refusing to replace ${target} without flushing the new file first.`);
        }
        throw err;
      });
      await this.matchOwner(sftp, handle, temp, before.stat, target);
      await sftp.close(handle, temp);
      handle = undefined;

      // Final compare-and-swap: see the window note above.
      const reread = await sftp.open(target, "r").catch((err: unknown) => {
        if (isMissing(err)) throw new RuntimeChangedError(target, this.session.label, "the file no longer exists");
        throw err;
      });
      let closeReread: Promise<void> | undefined;
      try {
        const now = await this.readAll(sftp, reread, target);
        if (!now.equals(options.expected)) {
          throw new RuntimeChangedError(target, this.session.label, describeDifference(options.expected, now));
        }
        const renaming = sftp.posixRename(temp, target);
        closeReread = sftp.close(reread, target).catch(() => undefined);
        await renaming;
        created = false;
        return { previous: now };
      } finally {
        await (closeReread ?? sftp.close(reread, target).catch(() => undefined));
      }
    } catch (err) {
      if (handle) await sftp.close(handle, temp).catch(() => undefined);
      // Best effort: if the connection is gone, cleanupStaleTemps removes it later.
      if (created) await sftp.unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /** Remove our own temp files (from writes cut short) older than `olderThanMs`.
   * Ages use this machine's clock against the node's mtimes; with clock skew a
   * younger temp may go, which at worst makes that in-flight write fail
   * cleanly at its rename. Returns the paths removed. */
  async cleanupStaleTemps(root: string, options: { olderThanMs?: number } = {}): Promise<string[]> {
    const olderThanMs = options.olderThanMs ?? 60_000;
    const dir = kvmLayout(root).conf;
    const sftp = await this.sftp();
    const removed: string[] = [];
    for (const e of await sftp.readdir(dir)) {
      if (!TEMP_NAME.test(e.name) || !e.stat?.isFile) continue;
      if (Date.now() - e.stat.mtime * 1000 < olderThanMs) continue;
      const path = `${dir}/${e.name}`;
      try {
        await sftp.unlink(path);
        removed.push(path);
      } catch (err) {
        if (!isMissing(err)) throw err; // Someone else removed it first.
      }
    }
    return removed;
  }

  private checkRegular(st: RemoteStat, path: string): void {
    if (!st.isFile) {
      throw new RuntimeFileError(`${path} on ${this.session.label} is not a regular file; refusing to touch it. Inspect it on the node.`);
    }
    if (st.size > MAX_RUNTIME_BYTES) {
      throw new RuntimeFileError(
        `${path} on ${this.session.label} is ${st.size} bytes; a runtime file is at most ${MAX_RUNTIME_BYTES} bytes (16 MiB), so this is not one. Inspect it on the node.`,
      );
    }
  }

  /** Read an open file to EOF, refusing more than MAX_RUNTIME_BYTES even if it grows. */
  private async readAll(sftp: NodeSftp, handle: Buffer, path: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = await sftp.read(handle, path, READ_CHUNK, total);
      if (chunk.length === 0) break;
      total += chunk.length;
      if (total > MAX_RUNTIME_BYTES) {
        throw new RuntimeFileError(`${path} on ${this.session.label} is larger than ${MAX_RUNTIME_BYTES} bytes (16 MiB), so it is not a runtime file. Inspect it on the node.`);
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts, total);
  }

  private async readExact(sftp: NodeSftp, path: string): Promise<{ bytes: Buffer; stat: RemoteStat }> {
    const handle = await sftp.open(path, "r").catch((err: unknown) => {
      if (isMissing(err)) throw new RuntimeChangedError(path, this.session.label, "the file no longer exists");
      throw err;
    });
    try {
      const stat = await sftp.fstat(handle, path);
      this.checkRegular(stat, path);
      return { bytes: await this.readAll(sftp, handle, path), stat };
    } finally {
      await sftp.close(handle, path).catch(() => undefined);
    }
  }

  /** Give the temp file the old file's owner so the rename keeps it. */
  private async matchOwner(sftp: NodeSftp, handle: Buffer, temp: string, old: RemoteStat, target: string): Promise<void> {
    const mine = await sftp.fstat(handle, temp);
    if (mine.uid === old.uid && mine.gid === old.gid) return;
    try {
      await sftp.fchown(handle, temp, old.uid, old.gid);
    } catch (err) {
      const denied = err instanceof SftpError && err.status === SFTP_STATUS.PERMISSION_DENIED;
      // Not root, and the file is already ours: only its group differs and
      // we may not be in that group. The owner (who matters for 0600) is kept.
      if (denied && mine.uid !== 0 && old.uid === mine.uid) return;
      throw new RuntimeFileError(
        `Cannot give the new ${target} its old owner ${old.uid}:${old.gid} on ${this.session.label} (${(err as Error).message}); nothing was replaced. Connect as root or as the file's owner.`,
      );
    }
  }
}

function describeDifference(expected: Buffer, actual: Buffer): string {
  if (expected.length !== actual.length) return `it is now ${actual.length} bytes, the plan saw ${expected.length}`;
  let i = 0;
  while (i < expected.length && expected[i] === actual[i]) i++;
  return `same size, first difference at byte ${i}`;
}
