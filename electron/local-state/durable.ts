// Local state that must survive a crash or power cut (the undo journal, the
// activity log): data fsynced before it counts, and the directory fsynced
// after a file appears, moves or is created in it, so the name is durable
// too. Temp files carry the writer's pid, so ones left by a dead process can
// be told from ones a live writer is still using.
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";

/** fsync a directory: makes the names created, renamed or removed in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** mkdir -p, with each directory it created made durable in its parent. */
export async function mkdirDurable(dir: string, mode = 0o700): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (first === undefined) return;
  // first .. dir were created: fsync the parent of each.
  const created = [first];
  const rest = relative(first, dir);
  if (rest !== "") for (const part of rest.split(sep)) created.push(join(created.at(-1)!, part));
  for (const d of created) await fsyncDir(dirname(d));
}

/** A temp name beside `path`, marked with this process's pid. */
export function tempNameFor(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

/** Writes a new file (it must not exist), fsynced, mode 0600. Removed again if the write fails. */
export async function writeNewFileDurable(path: string, data: string | Buffer): Promise<void> {
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw err;
  }
  await handle.close();
}

/** Replaces `path` atomically and durably: temp file, fsync, rename, fsync of the directory. */
export async function replaceFileDurable(path: string, data: string | Buffer): Promise<void> {
  const tmp = tempNameFor(path);
  await writeNewFileDurable(tmp, data);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Appends to a file (created 0600) and fsyncs it; a file this append created is made durable in its directory. */
export async function appendDurable(path: string, data: string | Buffer): Promise<void> {
  const handle = await open(path, "a", 0o600);
  let created: boolean;
  try {
    await handle.appendFile(data);
    await handle.sync();
    created = (await handle.stat()).size === Buffer.byteLength(data);
  } finally {
    await handle.close();
  }
  if (created) await fsyncDir(dirname(path));
}

/** A temp file older than this is an orphan even if its pid is in use again. */
export const ORPHAN_AGE_MS = 60 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes temp files (`*.tmp`) under `root` that no live writer holds: the
 * writer's pid (from tempNameFor) is gone, or the file is older than
 * ORPHAN_AGE_MS (also those named without a pid by earlier builds).
 * Returns what was removed.
 */
export async function pruneOrphanTempFiles(root: string, opts: { depth: number; now?: number }): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const removed: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    let changed = false;
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (depth > 0) await walk(p, depth - 1);
        continue;
      }
      if (!e.isFile() || !e.name.endsWith(".tmp")) continue;
      const pid = Number(/\.(\d+)\.[0-9a-f]+\.tmp$/.exec(e.name)?.[1] ?? NaN);
      if (pid === process.pid) continue;
      const st = await stat(p).catch(() => undefined);
      if (!st) continue;
      const old = now - st.mtimeMs > ORPHAN_AGE_MS;
      if (!old && Number.isInteger(pid) && alive(pid)) continue;
      if (!old && !Number.isInteger(pid)) continue;
      await unlink(p).catch(() => undefined);
      removed.push(p);
      changed = true;
    }
    if (changed) await fsyncDir(dir).catch(() => undefined);
  };
  await walk(root, opts.depth);
  return removed;
}
