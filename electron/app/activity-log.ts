// What was done, by which plan, with what outcome: kept in memory for the
// UI and appended to activity.jsonl in the app's data dir (no secrets are
// ever in an entry: summaries, plan ids and outcomes only).
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { ActivityEntrySchema, type ActivityEntry } from "../../shared/ipc/contract.js";

const KEEP = 2000;

export class ActivityLog {
  private entries: ActivityEntry[] = [];
  private constructor(private readonly file: string | null) {}

  static async open(dataDir: string | null): Promise<ActivityLog> {
    if (dataDir === null) return new ActivityLog(null);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const log = new ActivityLog(join(dataDir, "activity.jsonl"));
    const text = await readFile(log.file!, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(-KEEP)) {
      const parsed = ActivityEntrySchema.safeParse((() => {
        try {
          return JSON.parse(line);
        } catch {
          return null;
        }
      })());
      if (parsed.success) log.entries.push(parsed.data);
    }
    return log;
  }

  async add(entry: Omit<ActivityEntry, "id" | "at">): Promise<ActivityEntry> {
    const full = ActivityEntrySchema.parse({ ...entry, id: randomUUID(), at: Date.now() });
    this.entries.push(full);
    if (this.entries.length > KEEP) this.entries.splice(0, this.entries.length - KEEP);
    if (this.file) await appendFile(this.file, `${JSON.stringify(full)}\n`, { mode: 0o600 });
    return full;
  }

  list(filter: { nodeId?: string; instance?: string } = {}): ActivityEntry[] {
    return this.entries
      .filter((e) => (filter.nodeId === undefined || e.nodeId === filter.nodeId) && (filter.instance === undefined || e.instance === filter.instance))
      .slice()
      .reverse();
  }
}
