// The node helper (electron/on-node/node_helper.py) run directly under
// Debian's python3 on this machine, spoken to in its own protocol: locks,
// the runtime write, reads under the lock, events, chains. Plus the checks
// that keep it runnable on Python 3.5, the oldest python3 on Ganeti
// 2.10-2.15 nodes.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { describeWhere } from "../support/skip.js";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NODE_HELPER_PY } from "../../electron/on-node/node-helper";
import { IFNAME_PATTERN, MAX_RUNTIME_BYTES, parseHelperLine, type HelperLine } from "../../electron/on-node/helper-protocol";
import { OLDEST_HELPER_PYTHON } from "../../shared/ganeti/versions";

const PYTHON = "/usr/bin/python3";
const hasPython = existsSync(PYTHON);
const NO_PYTHON = `Debian's python3 (${PYTHON}) is not installed: run scripts/system-packages.sh`;

/** One helper process on this machine, spoken to as node-helper.ts does over SSH. */
class LocalHelper {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Every line it wrote, raw, in order. */
  readonly raw: string[] = [];
  private readonly lines: HelperLine[] = [];
  private readonly waiters: (() => void)[] = [];
  private nextId = 1;
  private rest = "";

  constructor(source = NODE_HELPER_PY) {
    this.proc = spawn(PYTHON, ["-c", source, "serve"], { stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stdout.setEncoding("utf8");
    this.proc.stdout.on("data", (chunk: string) => {
      const parts = (this.rest + chunk).split("\n");
      this.rest = parts.pop() ?? "";
      for (const line of parts) {
        this.raw.push(line);
        const parsed = parseHelperLine(line);
        if (!parsed) throw new Error(`not a protocol line: ${line}`);
        this.lines.push(parsed);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(op: string, args: unknown, after?: number): number {
    const id = this.nextId++;
    this.proc.stdin.write(`${JSON.stringify(after === undefined ? { id, op, args } : { id, op, args, after })}\n`);
    return id;
  }

  heartbeat(token: string): void {
    this.proc.stdin.write(`.${token}\n`);
  }

  /** The first line (taken off the queue) that matches, waiting up to `ms`. */
  async take<L extends HelperLine>(match: (l: HelperLine) => l is L, ms = 10_000): Promise<L> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex(match);
      if (i >= 0) return this.lines.splice(i, 1)[0] as L;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no such line from the helper in time");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async answer(id: number): Promise<Record<string, unknown>> {
    const l = await this.take((x): x is Extract<HelperLine, { kind: "answer" }> => x.kind === "answer" && x.id === id);
    return l.out as Record<string, unknown>;
  }

  async call(op: string, args: unknown): Promise<Record<string, unknown>> {
    return this.answer(this.send(op, args));
  }

  event(ms: number): Promise<Extract<HelperLine, { kind: "event" }>> {
    return this.take((x): x is Extract<HelperLine, { kind: "event" }> => x.kind === "event", ms);
  }

  pendingEvents(): number {
    return this.lines.filter((l) => l.kind === "event").length;
  }

  close(): Promise<void> {
    if (this.proc.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.proc.once("exit", () => resolve());
      this.proc.stdin.end();
    });
  }
}

let dir: string;
const running: LocalHelper[] = [];
function helper(source?: string): LocalHelper {
  const h = new LocalHelper(source);
  running.push(h);
  return h;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdhelperpy-"));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const token = (): string => randomBytes(16).toString("hex");
const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

async function lockDir(): Promise<{ dir: string; path: string; runtime: string }> {
  const d = await mkdtemp(join(dir, "n-"));
  const locks = join(d, "locks");
  const runtime = join(d, "inst1.runtime");
  return { dir: locks, path: join(locks, "inst1.lock"), runtime };
}

function lockArgs(l: { dir: string; path: string }, t: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { dir: l.dir, path: l.path, holder: JSON.stringify({ app: "test" }), staleAfterS: 30, token: t, check: null, read: false, ...extra };
}

/** Run python3 on a script that gets the helper's source as `SRC`; returns stdout. */
function python(script: string, src = NODE_HELPER_PY): string {
  const r = spawnSync(PYTHON, ["-c", `SRC = ${JSON.stringify(src)}\n${script}`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout;
}

// What Python 3.5 lacks that the helper might reach for: syntax is checked
// by ast with feature_version=(3, 5); these names by a walk of the tree.
const OLDEST = OLDEST_HELPER_PYTHON.split(".").map(Number);
const NEWER_THAN_35 = String.raw`
import ast, sys
FEATURE_VERSION = (${OLDEST.join(", ")})
NAMES = {"monotonic_ns", "time_ns", "perf_counter_ns", "process_time_ns", "isascii", "fromisoformat", "removeprefix",
         "removesuffix", "nullcontext", "breakpoint", "memfd_create", "isqrt", "prod", "cached_property", "fspath",
         "pidfd_open", "waitstatus_to_exitcode", "copy_file_range", "get_running_loop"}
KEYWORDS = {"capture_output", "text"}
MODULES = {"secrets", "dataclasses", "contextvars", "zoneinfo", "graphlib", "tomllib", "importlib.resources"}
def problems(src):
    try:
        tree = ast.parse(src, feature_version=FEATURE_VERSION)
    except SyntaxError as e:
        return ["syntax Python %d.%d lacks, line %d: %s" % (FEATURE_VERSION + (e.lineno, e.msg))]
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and n.attr in NAMES:
            out.append("line %d: .%s" % (n.lineno, n.attr))
        elif isinstance(n, ast.Name) and n.id in NAMES:
            out.append("line %d: %s" % (n.lineno, n.id))
        elif isinstance(n, ast.keyword) and n.arg in KEYWORDS:
            out.append("line %d: %s=" % (n.value.lineno, n.arg))
        elif isinstance(n, ast.Import):
            out += ["line %d: import %s" % (n.lineno, a.name) for a in n.names if a.name in MODULES]
        elif isinstance(n, ast.ImportFrom) and (n.module in MODULES or n.module == "__future__"):
            out.append("line %d: from %s import" % (n.lineno, n.module))
    return out
print("\n".join(problems(SRC)))
`;

describeWhere(hasPython ? undefined : NO_PYTHON, `node_helper.py under ${PYTHON}`, () => {
  it("is Python 3.5: no syntax and no library names a 3.5 node lacks (and the check does catch them)", () => {
    expect(OLDEST_HELPER_PYTHON).toBe("3.5"); // the oldest python3 on Ganeti 2.10-2.15 nodes, from the version table
    expect(python(NEWER_THAN_35)).toBe("\n");
    // The check can fail: the same source with an f-string, and with monotonic_ns.
    expect(python(NEWER_THAN_35, `${NODE_HELPER_PY}\nx = f"{1}"\n`)).toMatch(/syntax Python 3.5 lacks/);
    expect(python(NEWER_THAN_35, NODE_HELPER_PY.replace("time.monotonic() * 1e9", "time.monotonic_ns()"))).toMatch(/\.monotonic_ns/);
    expect(python(NEWER_THAN_35, `${NODE_HELPER_PY}\nsubprocess.run(["true"], capture_output=True)\n`)).toMatch(/capture_output=/);
  });

  it("agrees with the TypeScript side on the runtime size limit and on interface names", () => {
    const out = python('ns = {"__name__": "node_helper"}\nexec(compile(SRC, "node_helper.py", "exec"), ns)\nprint(ns["MAX_RUNTIME"])\nprint(ns["IFNAME"].pattern)');
    expect(out).toBe(`${MAX_RUNTIME_BYTES}\n${IFNAME_PATTERN}\n`);
  });

  it("locks: the lock request reads the file under the lock; a second process is told who holds it; the write frees it in the same request", async () => {
    const l = await lockDir();
    const before = Buffer.from('[["kvm"], [], {}, []]\n');
    await writeFile(l.runtime, before);
    const a = helper();
    const b = helper();
    const t = token();
    const held = await a.call("lock", lockArgs(l, t, { check: l.runtime, read: true }));
    expect(held).toMatchObject({ ok: true, locked: true, token: t, check: { sha256: sha256(before), size: before.length, regular: true } });
    expect(Buffer.from(String((held.check as { content: string }).content), "base64")).toEqual(before);
    expect(await b.call("lock", lockArgs(l, token()))).toEqual({ ok: true, locked: false, holder: '{"app":"test"}\n' });

    const after = Buffer.from('[["kvm", "-new"], [], {}, []]\n');
    const write = { path: l.runtime, temp: `${l.runtime}.tmp`, expectedSha256: sha256(before), content: after.toString("base64"), unlock: t };
    expect(await a.call("write-runtime", write)).toEqual({ ok: true, written: true, renamed: true, dirSynced: true, unlocked: true });
    expect(await readFile(l.runtime)).toEqual(after);
    // Freed: b takes it, and learns how long it had been free.
    const next = await b.call("lock", lockArgs(l, token()));
    expect(next).toMatchObject({ ok: true, locked: true });
    expect(next.quietMs).toEqual(expect.any(Number));
  });

  it("write-runtime compares before it replaces: a file that changed is left alone and its digest returned", async () => {
    const l = await lockDir();
    await writeFile(l.runtime, "theirs\n");
    const h = helper();
    const out = await h.call("write-runtime", { path: l.runtime, temp: `${l.runtime}.tmp`, expectedSha256: sha256(Buffer.from("ours\n")), content: Buffer.from("new\n").toString("base64"), unlock: null });
    expect(out).toEqual({ ok: true, written: false, renamed: false, now: { sha256: sha256(Buffer.from("theirs\n")), size: 7 } });
    expect(await readFile(l.runtime, "utf8")).toBe("theirs\n");
    expect(existsSync(`${l.runtime}.tmp`)).toBe(false);
  });

  it("write-runtime failures say they came before the rename (renamed: false), whatever raised them", async () => {
    const l = await lockDir();
    await writeFile(l.runtime, "ours\n");
    const h = helper();
    const base = { path: l.runtime, temp: `${l.runtime}.tmp`, expectedSha256: sha256(Buffer.from("ours\n")), content: Buffer.from("new\n").toString("base64"), unlock: null };
    // A refusal of its own (Fail), an OS error (the temp file exists: O_EXCL), a bad argument (KeyError).
    expect(await h.call("write-runtime", { ...base, unlock: token() })).toMatchObject({ ok: false, renamed: false, error: expect.stringMatching(/does not hold the instance lock/) });
    await writeFile(`${l.runtime}.tmp`, "left over\n");
    expect(await h.call("write-runtime", base)).toMatchObject({ ok: false, renamed: false, error: expect.stringMatching(/FileExistsError/) });
    const { content: _c, ...noContent } = base;
    expect(await h.call("write-runtime", noContent)).toMatchObject({ ok: false, renamed: false, error: expect.stringMatching(/KeyError/) });
    expect(await readFile(l.runtime, "utf8")).toBe("ours\n");
  });

  it("a lock whose heartbeats stop is dropped with an event line; heartbeats keep one", async () => {
    const l = await lockDir();
    const l2 = { dir: l.dir, path: join(l.dir, "inst2.lock") };
    const h = helper();
    const quiet = token();
    const kept = token();
    expect(await h.call("lock", lockArgs(l, quiet, { staleAfterS: 1 }))).toMatchObject({ locked: true });
    expect(await h.call("lock", lockArgs(l2, kept, { staleAfterS: 1 }))).toMatchObject({ locked: true });
    const beat = setInterval(() => h.heartbeat(kept), 200);
    try {
      const ev = await h.event(5_000);
      expect(ev).toEqual({ kind: "event", event: "lock-dropped", token: quiet, why: "no heartbeat for 1 s" });
      await new Promise((r) => setTimeout(r, 1_500));
      expect(h.pendingEvents()).toBe(0);
      expect(await h.call("unlock", { token: kept })).toEqual({ ok: true, released: true });
      expect(await h.call("unlock", { token: quiet })).toEqual({ ok: true, released: false });
    } finally {
      clearInterval(beat);
    }
  });

  it("with Python 3.5's key order (FAKE: json.dumps reversed) answers and events are still told apart", async () => {
    // Python 3.5 dicts have no insertion order: an event's "event" key need
    // not come first. This shim reverses every object's keys, which 3.11 cannot do by itself.
    const shim = [
      "import collections, json",
      "_dumps = json.dumps",
      "def _rev(o):",
      "    if isinstance(o, dict):",
      "        return collections.OrderedDict(reversed([(k, _rev(v)) for k, v in o.items()]))",
      "    if isinstance(o, list):",
      "        return [_rev(x) for x in o]",
      "    return o",
      "json.dumps = lambda o, *a, **k: _dumps(_rev(o), *a, **k)",
      "",
    ].join("\n");
    const l = await lockDir();
    const h = helper(shim + NODE_HELPER_PY);
    const t = token();
    expect(await h.call("lock", lockArgs(l, t, { staleAfterS: 1 }))).toMatchObject({ ok: true, locked: true, token: t });
    const ev = await h.event(5_000);
    expect(ev).toMatchObject({ kind: "event", event: "lock-dropped", token: t });
    const rawEvent = h.raw.find((r) => r.includes("lock-dropped")) ?? "";
    // What the old reader keyed on is gone from the line: it would have taken it for an answer.
    expect(rawEvent.startsWith('{"event"')).toBe(false);
    expect(rawEvent.startsWith('{"why"')).toBe(true);
    expect(await h.call("unlock", { token: t })).toEqual({ ok: true, released: false });
  });

  it("a chain stops at the first failure: a request sent after a failed one is skipped, not run", async () => {
    const d = await mkdtemp(join(dir, "chain-"));
    await writeFile(join(d, "file"), "x");
    const h = helper();
    const first = h.send("nic-file", { path: join(d, "file", "0"), action: "write", content: "tap0" });
    const second = h.send("nic-file", { path: join(d, "1"), action: "write", content: "tap1" }, first);
    expect(await h.answer(first)).toMatchObject({ ok: false, error: expect.stringMatching(/File exists/) });
    expect(await h.answer(second)).toEqual({ ok: false, skipped: true, error: "not run: the step before it failed" });
    expect(existsSync(join(d, "1"))).toBe(false);
  });

  it("a line that is not a request gets an error answer and the helper goes on", async () => {
    const h = helper();
    h.proc.stdin.write("this is not json\n");
    const bad = await h.take((x): x is Extract<HelperLine, { kind: "answer" }> => x.kind === "answer" && x.id === null);
    expect(bad.out).toMatchObject({ ok: false, error: expect.stringMatching(/^bad request: /) });
    expect(await h.call("unlock", { token: token() })).toEqual({ ok: true, released: false });
  });

  it("refuses interface names Linux would cut or misread, whatever the app sent", async () => {
    const h = helper();
    const root = await mkdtemp(join(dir, "root-"));
    const tooLong = await h.call("tap-create", { tap: "tap0123456789abcd", link: "", mode: "routed", root, env: {}, instance: "inst1" });
    expect(tooLong).toMatchObject({ ok: false, error: expect.stringMatching(/"tap0123456789abcd" is not a usable Linux interface name: at most 15 bytes/) });
    expect(await h.call("link-info", { names: ["../../../etc"] })).toMatchObject({ ok: false, error: expect.stringMatching(/is not a usable Linux interface name/) });
    expect(await h.call("link-info", { names: ["-o"] })).toMatchObject({ ok: false });
    expect(await h.call("link-info", { names: ["lo"] })).toEqual({ ok: true, links: { lo: { exists: true, master: null } } });
  });

  it("nic files are kept byte for byte or refused, never decoded with replacement characters", async () => {
    const d = await mkdtemp(join(dir, "nic-"));
    await mkdir(join(d, "inst1"));
    await writeFile(join(d, "inst1", "0"), Buffer.from([0x74, 0x61, 0x70, 0xff]));
    await writeFile(join(d, "inst1", "1"), "tap1\n");
    const h = helper();
    expect(await h.call("nic-files", { dir: join(d, "inst1") })).toEqual({ ok: true, files: { "1": "tap1" }, unreadable: ["0"] });
    expect(await h.call("nic-file", { path: join(d, "inst1", "0"), action: "write", content: "tap0" })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/holds bytes that are not UTF-8; refusing/),
    });
    expect(await readFile(join(d, "inst1", "0"))).toEqual(Buffer.from([0x74, 0x61, 0x70, 0xff]));
  });
});
