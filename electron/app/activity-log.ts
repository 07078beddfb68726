// What was done, by which plan, with what outcome: kept in memory for the
// UI and appended to activity.jsonl in the app's data dir (no secrets are
// ever in an entry: summaries, plan ids and outcomes only).
//
// On disk the log is bounded: when activity.jsonl would pass maxBytes it
// becomes activity.1.jsonl (replacing the one before) and a new file starts,
// so at most about twice maxBytes are kept. Every append is fsynced (and the
// directory when a file is created or renamed). At start only the tail is
// read: the newest entries the UI keeps, never the whole history.
import { mkdir, open, rename } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { ActivityEntrySchema, type ActivityEntry } from "../../shared/ipc/contract.js";
import { appendDurable, fsyncDir } from "../local-state/durable.js";

/** Entries kept in memory (and read back at start). */
const KEEP = 2000;
export const ACTIVITY_FILE = "activity.jsonl";
export const ACTIVITY_PREVIOUS_FILE = "activity.1.jsonl";

export interface ActivityLogOptions {
  /** Rotate activity.jsonl before it passes this size. */
  maxBytes?: number;
  /** Read at most this much of each file at start (KEEP entries fit with room to spare). */
  tailBytes?: number;
}

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
const DEFAULT_TAIL_BYTES = 1024 * 1024;

/** The last `tailBytes` of a file as whole lines (a line cut by the start is dropped); a missing file is none. */
async function tailLines(path: string, tailBytes: number): Promise<{ lines: string[]; size: number }> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch {
    return { lines: [], size: 0 };
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - tailBytes);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const lines = buf.subarray(0, got).toString("utf8").split("\n");
    if (start > 0) lines.shift();
    return { lines, size };
  } finally {
    await handle.close();
  }
}

function parseEntry(line: string): ActivityEntry | undefined {
  if (line === "") return undefined;
  try {
    const parsed = ActivityEntrySchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export class ActivityLog {
  private entries: ActivityEntry[] = [];
  /** Bytes in activity.jsonl (what this process knows of it). */
  private size = 0;
  // Appends and rotations run one after another.
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string | null,
    private readonly maxBytes: number,
  ) {}

  static async open(dataDir: string | null, opts: ActivityLogOptions = {}): Promise<ActivityLog> {
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    if (dataDir === null) return new ActivityLog(null, maxBytes);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const log = new ActivityLog(dataDir, maxBytes);
    const tailBytes = opts.tailBytes ?? DEFAULT_TAIL_BYTES;
    const current = await tailLines(join(dataDir, ACTIVITY_FILE), tailBytes);
    log.size = current.size;
    let entries = current.lines.map(parseEntry).filter((e): e is ActivityEntry => e !== undefined);
    if (entries.length < KEEP) {
      // Just rotated: the rest of the newest entries are in the previous file.
      const previous = await tailLines(join(dataDir, ACTIVITY_PREVIOUS_FILE), tailBytes);
      entries = [...previous.lines.map(parseEntry).filter((e): e is ActivityEntry => e !== undefined), ...entries];
    }
    log.entries = entries.slice(-KEEP);
    return log;
  }

  async add(entry: Omit<ActivityEntry, "id" | "at">): Promise<ActivityEntry> {
    const full = ActivityEntrySchema.parse({ ...entry, id: randomUUID(), at: Date.now() });
    this.entries.push(full);
    if (this.entries.length > KEEP) this.entries.splice(0, this.entries.length - KEEP);
    if (this.dir) {
      const dir = this.dir;
      const line = `${JSON.stringify(full)}\n`;
      const run = async () => {
        const file = join(dir, ACTIVITY_FILE);
        const bytes = Buffer.byteLength(line);
        if (this.size > 0 && this.size + bytes > this.maxBytes) {
          await rename(file, join(dir, ACTIVITY_PREVIOUS_FILE)).catch((err: NodeJS.ErrnoException) => {
            // Removed by someone else meanwhile: nothing to rotate.
            if (err.code !== "ENOENT") throw err;
          });
          await fsyncDir(dir);
          this.size = 0;
        }
        await appendDurable(file, line);
        this.size += bytes;
      };
      const next = this.writing.then(run, run);
      this.writing = next.catch(() => undefined);
      await next;
    }
    return full;
  }

  list(filter: { nodeId?: string; instance?: string } = {}): ActivityEntry[] {
    return this.entries
      .filter((e) => (filter.nodeId === undefined || e.nodeId === filter.nodeId) && (filter.instance === undefined || e.instance === filter.instance))
      .slice()
      .reverse();
  }
}
