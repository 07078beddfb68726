// A node's KVM runtime files: list instances and read a runtime file over
// SFTP; replace it atomically with a compare-and-swap against the bytes the
// change was planned from, through the session's node helper.
import { createHash, randomBytes } from "node:crypto";
import type { NodeSession } from "../ssh/session.js";
import { assertInstanceName, instancePaths, kvmLayout } from "../../shared/on-node/layout.js";
import { decodeRuntimeBytes } from "../../shared/runtime/text.js";
import { NodeSftp, SFTP_STATUS, SftpError, type RemoteStat } from "./sftp.js";
import { callNodeHelper, NodeHelperError, wasNotSent, type HelperAnswer } from "./node-helper.js";

import { MAX_RUNTIME_BYTES } from "./helper-protocol.js";

export { MAX_RUNTIME_BYTES };
/** Ganeti creates runtime files 0600 (utils.WriteFile via mkstemp). */
export const RUNTIME_MODE = 0o600;
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

/**
 * The write request went to the node and no answer that can be trusted came
 * back (the helper died, the connection dropped, a timeout, or garbage): the
 * file may hold the old bytes or the new ones. Read it again to know which.
 */
export class RuntimeWriteUnknownError extends Error {
  constructor(
    readonly path: string,
    readonly node: string,
    /** What was lost, in words. */
    readonly why: string,
    options?: { cause?: unknown },
  ) {
    super(
      `The write of ${path} on ${node} was sent, but its answer was lost (${why}): the file may hold the old bytes or the new ones (never a mix). Read it again before doing anything else with it.`,
      options,
    );
    this.name = "RuntimeWriteUnknownError";
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

/** Why a runtime file cannot be read or replaced, in the same words wherever it is found out. */
export const runtimeFileProblem = {
  missing: (path: string, node: string, instance: string) => `${path} does not exist on ${node}: instance ${instance} is not running there (or the node root is wrong).`,
  notRegular: (path: string, node: string) => `${path} on ${node} is not a regular file; refusing to touch it. Inspect it on the node.`,
  tooLarge: (path: string, node: string) => `${path} on ${node} is larger than ${MAX_RUNTIME_BYTES} bytes (16 MiB), so it is not a runtime file. Inspect it on the node.`,
  notUtf8: (path: string, node: string, offset: number) =>
    `${path} on ${node} has bytes that are not UTF-8 (the first at byte ${offset}): Ganeti writes runtime files as ASCII JSON, so this one was changed by something else. Nothing is planned from it, so those bytes cannot be rewritten; inspect the file on the node.`,
};

/** A runtime file's text, exactly its bytes: the text, or why it cannot be used (bytes that are not UTF-8). */
export function runtimeText(bytes: Uint8Array, path: string, node: string): { text: string } | { error: string } {
  const d = decodeRuntimeBytes(bytes);
  return d.ok ? { text: d.text } : { error: runtimeFileProblem.notUtf8(path, node, d.offset) };
}

/** What the node read of a runtime file: its digest (null: the file is gone). */
export type RuntimeDigest = { sha256: string; size: number; regular?: boolean } | null;

export const sha256Hex = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

/** Throw unless the node's file is still exactly `expected` (the bytes a change was planned from). */
export function assertUnchanged(path: string, node: string, now: RuntimeDigest, expected: Buffer): void {
  if (!now) throw new RuntimeChangedError(path, node, "the file no longer exists");
  if (now.regular === false) throw new RuntimeFileError(runtimeFileProblem.notRegular(path, node));
  if (now.sha256 === sha256Hex(expected)) return;
  const n = expected.length;
  throw new RuntimeChangedError(path, node, `it is now ${now.size} bytes, the plan saw ${n}${now.size === n ? " (same size, different bytes)" : ""}`);
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

  /** Whether `path` exists on the node (any type). */
  async exists(path: string): Promise<boolean> {
    const sftp = await this.sftp();
    return sftp.lstat(path).then(
      () => true,
      (err: unknown) => {
        if (isMissing(err)) return false;
        throw err;
      },
    );
  }

  async readRuntimeFile(root: string, name: string): Promise<RuntimeFile> {
    const path = instancePaths(root, name).runtime;
    const sftp = await this.sftp();
    const handle = await sftp.open(path, "r").catch((err: unknown) => {
      if (isMissing(err)) {
        throw new RuntimeFileError(runtimeFileProblem.missing(path, this.session.label, name));
      }
      throw err;
    });
    try {
      const st = await sftp.fstat(handle, path);
      this.checkRegular(st, path);
      const bytes = await sftp.readToEnd(handle, path, st.size, MAX_RUNTIME_BYTES, () => new RuntimeFileError(runtimeFileProblem.tooLarge(path, this.session.label)));
      const t = runtimeText(bytes, path, this.session.label);
      if ("error" in t) throw new RuntimeFileError(t.error);
      return { text: t.text, bytes, mtimeMs: st.mtime * 1000, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    } finally {
      // Not waited for: the server handles requests in order, and nothing here depends on its answer.
      void sftp.close(handle, path).catch(() => undefined);
    }
  }

  /**
   * Replace the runtime file of `name` with `content`, atomically, only if
   * the file still holds exactly `expected` (the bytes the change was
   * planned from). Returns the bytes it replaced (equal to `expected`).
   *
   * One request to the session's node helper (node-helper.ts), which on the
   * node: compares the file's digest, creates
   * `.<name>.runtime.<random>.hotplug-desk.new` (O_EXCL, 0600) beside it,
   * writes, fsyncs, gives it the old file's owner, compares again and
   * renames it over the file, then fsyncs the directory.
   *
   * Compare-and-swap window: the final compare and the rename run back to
   * back in one process, so another writer can only slip in during those
   * microseconds. Ganeti itself writes runtime files only while it holds its
   * own instance operation.
   *
   * A connection cut before the whole request arrived leaves nothing (not
   * even a temp file); one cut afterwards lets the helper finish. Either way
   * the file is the old one or the new one, never a mix.
   *
   * `unlock`: the token of an instance lock held on this session's helper,
   * freed by the same request once the file is replaced (not when the write
   * fails: the caller still needs the lock to undo its live changes).
   */
  async writeRuntimeFile(root: string, name: string, content: string | Buffer, options: { expected: Buffer; unlock?: string; timeoutMs?: number }): Promise<{ previous: Buffer; unlocked: boolean }> {
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
    const temp = `${dir}/.${name}.runtime.${randomBytes(8).toString("hex")}${TEMP_SUFFIX}`;
    const expectedSha256 = sha256Hex(options.expected);
    let r: HelperAnswer<"write-runtime">;
    try {
      r = await callNodeHelper(
        this.session,
        "write-runtime",
        { path: target, temp, expectedSha256, content: data.toString("base64"), unlock: options.unlock ?? null },
        options.timeoutMs ?? 60_000,
      );
    } catch (err) {
      // Not written only when the helper said so before its rename (not a
      // regular file, owner, lock not held), or when the request never left.
      if (err instanceof NodeHelperError && err.said?.renamed === false) throw new RuntimeFileError(`Cannot write ${target} on ${this.session.label}: ${err.message}`);
      if (wasNotSent(err)) throw err;
      throw new RuntimeWriteUnknownError(target, this.session.label, (err as Error).message ?? String(err), { cause: err });
    }
    if (!r.written) assertUnchanged(target, this.session.label, r.now, options.expected);
    return { previous: options.expected, unlocked: r.written && r.unlocked };
  }

  /**
   * The runtime file's digest as it is now (null: it does not exist), read
   * over SFTP: how a write whose answer was lost is settled, without the
   * helper that may have died with it.
   */
  async digest(root: string, name: string): Promise<RuntimeDigest> {
    const path = instancePaths(root, name).runtime;
    const sftp = await this.sftp();
    const handle = await sftp.open(path, "r").catch((err: unknown) => {
      if (isMissing(err)) return null;
      throw err;
    });
    if (!handle) return null;
    try {
      const st = await sftp.fstat(handle, path);
      if (!st.isFile) return { sha256: "", size: st.size, regular: false };
      const bytes = await sftp.readToEnd(handle, path, st.size, MAX_RUNTIME_BYTES, () => new RuntimeFileError(runtimeFileProblem.tooLarge(path, this.session.label)));
      return { sha256: sha256Hex(bytes), size: bytes.length, regular: true };
    } finally {
      await sftp.close(handle, path).catch(() => undefined);
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
      throw new RuntimeFileError(runtimeFileProblem.notRegular(path, this.session.label));
    }
    if (st.size > MAX_RUNTIME_BYTES) {
      throw new RuntimeFileError(
        `${path} on ${this.session.label} is ${st.size} bytes; a runtime file is at most ${MAX_RUNTIME_BYTES} bytes (16 MiB), so this is not one. Inspect it on the node.`,
      );
    }
  }
}
