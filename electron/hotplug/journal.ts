// A local undo journal of runtime-file writes. For every write it keeps the
// bytes replaced and the bytes written, per (node, instance), so a change
// can be undone with the same compare-and-swap as any other write: undo
// writes `previous` only if the file still holds what we wrote.
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { assertInstanceName } from "../../shared/on-node/layout.js";
import { RuntimeWriteUnknownError, type RuntimeStore } from "../on-node/runtime-store.js";
import { mkdirDurable, pruneOrphanTempFiles, replaceFileDurable } from "../local-state/durable.js";

export const DEFAULT_KEEP_PER_INSTANCE = 50;

const entrySchema = z.object({
  v: z.literal(1),
  id: z.string().regex(/^\d{13}-[0-9a-f]{8}$/),
  node: z.string().min(1),
  root: z.string().startsWith("/"),
  instance: z.string().min(1),
  planId: z.string(),
  at: z.iso.datetime(),
  /** "pending" is on disk before the node write, "applied" after it. A
   * pending entry left by a crash is still safe to undo: the undo's
   * compare-and-swap fails if the write never happened. */
  state: z.enum(["pending", "applied"]),
  previous: z.base64(),
  written: z.base64(),
});

export interface JournalEntry {
  id: string;
  node: string;
  root: string;
  instance: string;
  planId: string;
  /** ISO time the entry was made: just before the write (with the executor, when its live steps began). */
  at: string;
  state: "pending" | "applied";
  /** The file's bytes before our write (what undo restores). */
  previous: Buffer;
  /** The bytes we wrote (what undo expects to find). */
  written: Buffer;
}

export interface JournaledWrite {
  root: string;
  instance: string;
  planId: string;
  content: string | Buffer;
  expected: Buffer;
}

export class Journal {
  /** Temp files left by writers that died: removed before this process writes its first entry. */
  private pruning: Promise<void> | undefined;
  /** "applied" marks being saved; list() waits for them, so this process never reads its own entries stale. */
  private readonly marking = new Set<Promise<void>>();

  constructor(
    readonly dir: string,
    readonly keepPerInstance: number = DEFAULT_KEEP_PER_INSTANCE,
  ) {}

  /** Removes temp files no live writer holds (a crash between write and rename leaves one). Returns their paths. */
  async pruneOrphans(): Promise<string[]> {
    // <dir>/<node>/<instance>/<id>.json.<pid>.<hex>.tmp
    return pruneOrphanTempFiles(this.dir, { depth: 2 });
  }

  /** Write through `store` and journal it. The entry is on disk (pending)
   * before the node is touched, so a crash between cannot lose the undo. */
  async write(store: RuntimeStore, w: JournaledWrite): Promise<{ entry: JournalEntry; previous: Buffer }> {
    return this.commit(store, await this.prepare(store.nodeId, w));
  }

  /**
   * The first half of `write`: the pending entry, on disk. A caller that
   * knows the bytes early (the hotplug executor, from the plan) makes it
   * while the live steps run, so the write itself waits for no local disk.
   * Follow with `commit`, or `discard` when the write will not happen.
   */
  async prepare(node: string, w: JournaledWrite): Promise<JournalEntry> {
    return this.record({
      node,
      root: w.root,
      instance: w.instance,
      planId: w.planId,
      state: "pending",
      previous: w.expected,
      written: typeof w.content === "string" ? Buffer.from(w.content, "utf8") : w.content,
    });
  }

  /** The second half of `write`: the node write of a prepared entry, then the entry marked applied. */
  async commit(store: RuntimeStore, entry: JournalEntry, options: { unlock?: string } = {}): Promise<{ entry: JournalEntry; previous: Buffer; unlocked: boolean }> {
    if (entry.node !== store.nodeId) throw new Error(`Journal entry ${entry.id} is for node ${entry.node}, but this store is connected to ${store.nodeId}.`);
    let r: Awaited<ReturnType<RuntimeStore["writeRuntimeFile"]>>;
    try {
      r = await store.writeRuntimeFile(entry.root, entry.instance, entry.written, { expected: entry.previous, ...options });
    } catch (err) {
      // The store throws RuntimeWriteUnknownError exactly when the rename may
      // have happened (the answer was lost): then the entry stays, pending.
      // Anything else means nothing was replaced.
      if (!(err instanceof RuntimeWriteUnknownError)) await this.discard(entry);
      throw err;
    }
    const applied: JournalEntry = { ...entry, state: "applied", previous: r.previous };
    // Marked applied off the change's path: the durable pending entry already
    // holds the undo, and undo checks the node's file holds what was written,
    // so a mark lost to a crash (or failed) leaves an entry that undoes alike.
    // Old entries go only for a write that happened (not for a prepared one later discarded).
    const mark = Promise.all([this.save(applied, false), this.trim(entry.node, entry.instance)]).then(
      () => undefined,
      () => undefined,
    );
    this.marking.add(mark);
    void mark.finally(() => this.marking.delete(mark));
    return { entry: applied, previous: r.previous, unlocked: r.unlocked };
  }

  /** When the "applied" marks this process started are saved (or failed, leaving their entries pending). */
  async settled(): Promise<void> {
    await Promise.all(this.marking);
  }

  /** Drop a prepared entry whose write did not happen. */
  async discard(entry: JournalEntry): Promise<void> {
    await rm(this.entryPath(entry), { force: true });
  }

  /** Restore `entry.previous` if the file still holds `entry.written`. The
   * undo is journaled too (plan id "undo:<id>"), so it can be undone. */
  async undo(store: RuntimeStore, entry: JournalEntry): Promise<JournalEntry> {
    if (entry.node !== store.nodeId) {
      throw new Error(`Journal entry ${entry.id} is for node ${entry.node}, but this store is connected to ${store.nodeId}. Undo it from a session to ${entry.node}.`);
    }
    const { entry: undone } = await this.write(store, {
      root: entry.root,
      instance: entry.instance,
      planId: `undo:${entry.id}`,
      content: entry.previous,
      expected: entry.written,
    });
    return undone;
  }

  /** Entries for (node, instance), oldest first. Unreadable files are skipped. */
  async list(node: string, instance: string): Promise<JournalEntry[]> {
    await this.settled();
    const dir = this.instanceDir(node, instance);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const entries: JournalEntry[] = [];
    for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
      let raw: unknown;
      try {
        raw = JSON.parse(await readFile(join(dir, name), "utf8"));
      } catch {
        continue; // Vanished (trimmed) or damaged: not an entry we can undo.
      }
      const parsed = entrySchema.safeParse(raw);
      if (!parsed.success) continue;
      const d = parsed.data;
      entries.push({ ...d, previous: Buffer.from(d.previous, "base64"), written: Buffer.from(d.written, "base64") });
    }
    return entries;
  }

  async latest(node: string, instance: string): Promise<JournalEntry | undefined> {
    return (await this.list(node, instance)).at(-1);
  }

  async record(e: Omit<JournalEntry, "id" | "at">): Promise<JournalEntry> {
    assertInstanceName(e.instance);
    const entry: JournalEntry = {
      ...e,
      id: `${String(Date.now()).padStart(13, "0")}-${randomBytes(4).toString("hex")}`,
      at: new Date().toISOString(),
    };
    // Once per process, at its first write: small (a few dirs of <= keepPerInstance files).
    this.pruning ??= this.pruneOrphans().then(
      () => undefined,
      () => undefined,
    );
    await this.pruning;
    await this.save(entry);
    return entry;
  }

  private async save(entry: JournalEntry, makeDir = true): Promise<void> {
    const dir = this.instanceDir(entry.node, entry.instance);
    if (makeDir) await mkdirDurable(dir);
    const body = JSON.stringify({
      v: 1,
      ...entry,
      previous: entry.previous.toString("base64"),
      written: entry.written.toString("base64"),
    });
    // Atomic and durable (fsync of the file, then of the directory after the
    // rename): a crash leaves the old entry or the new one, never half, and a
    // pending entry is on disk before the node is touched.
    await replaceFileDurable(this.entryPath(entry), body);
  }

  private async trim(node: string, instance: string): Promise<void> {
    const dir = this.instanceDir(node, instance);
    const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
    for (const name of names.slice(0, Math.max(0, names.length - this.keepPerInstance))) {
      await rm(join(dir, name), { force: true });
    }
  }

  private entryPath(entry: Pick<JournalEntry, "node" | "instance" | "id">): string {
    return join(this.instanceDir(entry.node, entry.instance), `${entry.id}.json`);
  }

  /** Node ids hold '@' and ':'; keep the directory name portable and unique. */
  private instanceDir(node: string, instance: string): string {
    const readable = node.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
    const hash = createHash("sha256").update(node).digest("hex").slice(0, 12);
    return join(this.dir, `${readable}-${hash}`, assertInstanceName(instance));
  }
}
