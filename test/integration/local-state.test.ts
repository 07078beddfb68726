// The app's local state survives a crash: journal entries and activity
// entries are fsynced (the file, and the directory after a file is created
// or renamed), activity.jsonl is bounded and only its tail is read at start,
// and temp files left by dead writers are pruned. What the code does on disk
// is read from strace of a real process doing it (local-state-writer.ts).
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { missingPrograms, describeWhere } from "../support/skip.js";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomUUID } from "node:crypto";
import { Journal } from "../../electron/hotplug/journal.js";
import { ActivityLog, ACTIVITY_FILE, ACTIVITY_PREVIOUS_FILE } from "../../electron/app/activity-log.js";
import { TSX_NODE_FLAGS } from "../support/tsx.js";

const repo = resolve(__dirname, "../..");
const STRACE = "/usr/bin/strace";
const NO_TRACE = missingPrograms([[STRACE, "strace"]]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdlocal-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the writer under strace; returns its stdout and the trace lines (paths shown for fds). */
function traced(mode: string, target: string): Promise<{ out: string; trace: string[] }> {
  const log = join(dir, `strace-${randomUUID()}.log`);
  return new Promise((done, fail) => {
    execFile(
      STRACE,
      ["-f", "-y", "-qq", "-s", "0", "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2,read,pread64,write,pwrite64", "-o", log, process.execPath, ...TSX_NODE_FLAGS, join(repo, "test/integration/local-state-writer.ts"), mode, target],
      { cwd: repo, timeout: 60_000 },
      async (err, stdout, stderr) => {
        if (err) return fail(new Error(`${mode} failed: ${stderr}`));
        done({ out: stdout, trace: joinResumed((await readFile(log, "utf8")).split("\n")) });
      },
    );
  });
}

/**
 * One line per system call: with -f, a call that another thread interrupts
 * is split into "pid call(args <unfinished ...>" and, later,
 * "pid <... call resumed>rest"; the pair is joined where the call began, so a
 * read's fd and its result are on one line and the order of calls is kept.
 */
function joinResumed(lines: string[]): string[] {
  const out: string[] = [];
  const open = new Map<string, number>();
  for (const line of lines) {
    const pid = /^(\d+)\s/.exec(line)?.[1];
    const unfinished = / <unfinished \.\.\.>$/.exec(line);
    const resumed = /^\d+\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (pid && unfinished) {
      open.set(pid, out.length);
      out.push(line.slice(0, unfinished.index));
    } else if (pid && resumed && open.has(pid)) {
      const at = open.get(pid)!;
      out[at] = `${out[at]}${resumed[1]}`;
      open.delete(pid);
    } else {
      out.push(line);
    }
  }
  return out;
}

/** Index of the first trace line after `from` that matches. */
const find = (trace: string[], re: RegExp, from = 0) => trace.findIndex((l, i) => i >= from && re.test(l));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describeWhere(NO_TRACE, "local state is fsynced (strace of a real process)", () => {
  it("a journal entry: the temp file is fsynced before it is renamed into place, the directory after", async () => {
    const jdir = join(dir, "journal");
    const { out, trace } = await traced("journal", jdir);
    const id = (JSON.parse(out) as { id: string }).id;
    const rename = find(trace, new RegExp(`rename(at2?)?\\(.*"(${esc(jdir)}/[^"]+/${id}\\.json\\.[^"]+\\.tmp)".*"${esc(jdir)}/[^"]+/${id}\\.json"`));
    expect(rename, "rename of the entry's temp file").toBeGreaterThan(-1);
    const tmp = /"([^"]+\.tmp)"/.exec(trace[rename]!)![1]!;
    const instanceDir = tmp.slice(0, tmp.lastIndexOf("/"));
    const fileSync = find(trace, new RegExp(`f(data)?sync\\(\\d+<${esc(tmp)}>`));
    expect(fileSync, "fsync of the temp file").toBeGreaterThan(-1);
    expect(fileSync).toBeLessThan(rename);
    expect(find(trace, new RegExp(`fsync\\(\\d+<${esc(instanceDir)}>`), rename), "fsync of the directory after the rename").toBeGreaterThan(rename);
    // The directories the entry needed were new: each is durable in its parent.
    expect(find(trace, new RegExp(`fsync\\(\\d+<${esc(jdir)}>`)), "fsync of the journal dir").toBeGreaterThan(-1);
  });

  it("an activity entry: the append is fsynced, and the directory when the file is new", async () => {
    const adir = join(dir, "activity-add");
    const { trace } = await traced("activity-add", adir);
    const file = join(adir, ACTIVITY_FILE);
    const write = find(trace, new RegExp(`p?write(64)?\\(\\d+<${esc(file)}>`));
    expect(write, "write to activity.jsonl").toBeGreaterThan(-1);
    expect(find(trace, new RegExp(`f(data)?sync\\(\\d+<${esc(file)}>`), write), "fsync after the write").toBeGreaterThan(write);
    expect(find(trace, new RegExp(`fsync\\(\\d+<${esc(adir)}>`), write), "fsync of the data dir").toBeGreaterThan(write);
  });

  it("at start only the tail of a large activity.jsonl is read", async () => {
    const adir = join(dir, "activity-big");
    await mkdir(adir);
    const lines: string[] = [];
    let last = "";
    for (let i = 0; i < 100_000; i++) {
      last = randomUUID();
      lines.push(JSON.stringify({ id: last, at: 1_700_000_000_000 + i, nodeId: "node1", instance: "inst1.example", summary: `entry ${i} ${"x".repeat(200)}`, outcome: "info" }));
    }
    await writeFile(join(adir, ACTIVITY_FILE), `${lines.join("\n")}\n`);
    const size = (await stat(join(adir, ACTIVITY_FILE))).size;
    expect(size).toBeGreaterThan(25 * 1024 * 1024);
    const { out, trace } = await traced("activity-open", adir);
    expect(JSON.parse(out)).toEqual({ count: 2000, newest: last });
    const file = join(adir, ACTIVITY_FILE);
    const bytesRead = trace
      .filter((l) => new RegExp(`p?read(64)?\\(\\d+<${esc(file)}>`).test(l))
      .map((l) => Number(/= (\d+)\s*$/.exec(l)?.[1] ?? 0))
      .reduce((a, b) => a + b, 0);
    console.log(`activity.jsonl of ${(size / 1048576).toFixed(1)} MiB: ${(bytesRead / 1048576).toFixed(2)} MiB read at start`);
    expect(bytesRead).toBeGreaterThan(0);
    expect(bytesRead).toBeLessThanOrEqual(1024 * 1024);
  });
});

describe("activity.jsonl is bounded", () => {
  it("rotates before it passes its limit, keeps one previous file, and reads the newest entries back", async () => {
    const adir = join(dir, "activity-rotate");
    const log = await ActivityLog.open(adir, { maxBytes: 10_000 });
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push((await log.add({ nodeId: "node1", summary: `entry ${i}`, outcome: "info" })).id);
    const files = (await readdir(adir)).sort();
    expect(files).toEqual([ACTIVITY_PREVIOUS_FILE, ACTIVITY_FILE].sort());
    for (const f of files) expect((await stat(join(adir, f))).size).toBeLessThanOrEqual(10_000);
    expect(log.list()).toHaveLength(300);
    // Read back at start: what the two files hold, newest last written first in the list.
    const again = (await ActivityLog.open(adir, { maxBytes: 10_000 })).list();
    expect(again[0]?.id).toBe(ids.at(-1));
    const onDisk = (await Promise.all(files.map((f) => readFile(join(adir, f), "utf8")))).join("").trim().split("\n").length;
    expect(again).toHaveLength(onDisk);
    expect(again.map((e) => e.id)).toEqual(ids.slice(-onDisk).reverse());
  });
});

describe("orphan temp files", () => {
  it("a journal prunes, before its first write, the temp files no live writer holds", async () => {
    const jdir = join(dir, "journal-orphans");
    const inst = join(jdir, "node1-abc", "inst1.example");
    await mkdir(inst, { recursive: true });
    const deadPid = await new Promise<number>((r) => {
      const p = spawn("true");
      p.once("exit", () => r(p.pid!));
    });
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000);
    const files = {
      deadWriter: join(inst, `1700000000000-aaaaaaaa.json.${deadPid}.0123abcd.tmp`),
      liveWriter: join(inst, `1700000000000-bbbbbbbb.json.${process.ppid}.0123abcd.tmp`),
      liveButOld: join(inst, `1700000000000-cccccccc.json.${process.ppid}.4567abcd.tmp`),
      olderBuildOld: join(inst, `1700000000000-dddddddd.json.89abcdef.tmp`),
      olderBuildRecent: join(inst, `1700000000000-eeeeeeee.json.01234567.tmp`),
      entry: join(inst, `1700000000000-ffffffff.json`),
    };
    for (const f of Object.values(files)) await writeFile(f, "{}");
    await utimes(files.liveButOld, twoHoursAgo, twoHoursAgo);
    await utimes(files.olderBuildOld, twoHoursAgo, twoHoursAgo);

    await new Journal(jdir).prepare("node1", { root: "/", instance: "inst2.example", planId: "p", content: "x", expected: Buffer.from("y") });
    expect(existsSync(files.deadWriter)).toBe(false);
    expect(existsSync(files.liveButOld)).toBe(false);
    expect(existsSync(files.olderBuildOld)).toBe(false);
    expect(existsSync(files.liveWriter)).toBe(true);
    expect(existsSync(files.olderBuildRecent)).toBe(true);
    expect(existsSync(files.entry)).toBe(true);
  });
});
