// RuntimeStore and Journal against the lab's real OpenSSH sshd. The fake
// node root lives on this machine, so the test checks the node's files
// directly with fs (and plays the "concurrent writer" with fs too).
import { describe, it, expect, beforeAll, afterAll, beforeEach } from "vitest";
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd, sessionTarget } from "../../electron/lab/sshd.js";
import { InstanceLockedError, InstanceLocks } from "../../electron/on-node/instance-lock.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { instancePaths, kvmLayout } from "../../shared/on-node/layout.js";
import { MAX_RUNTIME_BYTES, RuntimeChangedError, RuntimeFileError, RuntimeStore } from "../../electron/on-node/runtime-store.js";
import { Journal } from "../../electron/hotplug/journal.js";

let dir: string;
let root: string;
let sshd: RunningSshd;
let session: NodeSession;
let store: RuntimeStore;

const OLD = '[["-name", "web1"], {"mem": 512}, {}]\n';
const NEW = '[["-name", "web1"], {"mem": 1024}, {}]\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdstore-"));
  sshd = await startSshd(join(dir, "ssh"));
  root = join(dir, "node");
  const l = kvmLayout(root);
  await mkdir(l.conf, { recursive: true });
  await mkdir(l.ctrl, { recursive: true });
  session = await NodeSession.open({
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    privateKeyPath: sshd.privateKeyPath,
    knownHostsPath: sshd.knownHostsPath,
  });
  store = new RuntimeStore(session);
});

afterAll(async () => {
  session?.close();
  await sshd?.stop();
  await rm(dir, { recursive: true, force: true });
});

const runtimePath = (name: string) => instancePaths(root, name).runtime;

async function tempsLeft(): Promise<string[]> {
  return (await readdir(kvmLayout(root).conf)).filter((n) => n.endsWith(".hotplug-desk.new"));
}

async function seed(name: string, text: string | Buffer, owner = { uid: 1234, gid: 5678 }): Promise<void> {
  await writeFile(runtimePath(name), text, { mode: 0o600 });
  await chown(runtimePath(name), owner.uid, owner.gid);
}

describe("RuntimeStore over SFTP", () => {
  beforeEach(async () => {
    for (const n of await readdir(kvmLayout(root).conf)) await rm(join(kvmLayout(root).conf, n), { force: true });
    for (const n of await readdir(kvmLayout(root).ctrl)) await rm(join(kvmLayout(root).ctrl, n), { force: true });
  });

  it("reads a runtime file with its bytes, mode, owner and mtime", async () => {
    await seed("web1", OLD);
    const f = await store.readRuntimeFile(root, "web1");
    expect(f.text).toBe(OLD);
    expect(f.bytes.equals(Buffer.from(OLD))).toBe(true);
    expect(f.mode).toBe(0o600);
    expect([f.uid, f.gid]).toEqual([1234, 5678]);
    expect(Math.abs(f.mtimeMs - (await stat(runtimePath("web1"))).mtimeMs)).toBeLessThan(1000);
  });

  it("writes atomically: new bytes, mode 0600, old owner kept, previous returned, no temp left", async () => {
    await seed("web1", OLD);
    const plan = await store.readRuntimeFile(root, "web1");
    const { previous } = await store.writeRuntimeFile(root, "web1", NEW, { expected: plan.bytes });
    expect(previous.toString()).toBe(OLD);
    expect(await readFile(runtimePath("web1"), "utf8")).toBe(NEW);
    const st = await stat(runtimePath("web1"));
    expect(st.mode & 0o7777).toBe(0o600);
    expect([st.uid, st.gid]).toEqual([1234, 5678]);
    expect(await tempsLeft()).toEqual([]);
    const again = await store.readRuntimeFile(root, "web1");
    expect(again.text).toBe(NEW);
  });

  it("frees the instance lock in the same request as a write that went through, and keeps it when the write is refused", async () => {
    await seed("web1", OLD);
    const locks = new InstanceLocks(session, root);
    const other = await NodeSession.open(sessionTarget(sshd));
    try {
      const lock = await locks.acquire("web1");
      // Refused (the file is not what the plan saw): the caller still needs the lock to undo.
      const refused = lock.handOver();
      await expect(store.writeRuntimeFile(root, "web1", NEW, { expected: Buffer.from("something else"), unlock: refused.token })).rejects.toBeInstanceOf(RuntimeChangedError);
      await expect(new InstanceLocks(other, root).acquire("web1")).rejects.toBeInstanceOf(InstanceLockedError);
      const done = lock.handOver();
      const r = await store.writeRuntimeFile(root, "web1", NEW, { expected: Buffer.from(OLD), unlock: done.token });
      expect(r.unlocked).toBe(true);
      done.released();
      expect(lock.held).toBe(false);
      expect(await readFile(runtimePath("web1"), "utf8")).toBe(NEW);
      // Free at once for anyone else, with no unlock request of ours in between.
      await (await new InstanceLocks(other, root).acquire("web1")).release();
    } finally {
      other.close();
    }
  });

  it("refuses with RuntimeChangedError when someone wrote the file after the plan", async () => {
    await seed("web1", OLD);
    const plan = await store.readRuntimeFile(root, "web1");
    const theirs = '[["-name", "web1"], {"mem": 2048}, {}]\n';
    await writeFile(runtimePath("web1"), theirs); // Ganeti, say
    const err = await store.writeRuntimeFile(root, "web1", NEW, { expected: plan.bytes }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeChangedError);
    expect((err as Error).message).toContain(runtimePath("web1"));
    expect((err as Error).message).toMatch(/Ganeti included.*Re-read the file and plan the change again/);
    expect(await readFile(runtimePath("web1"), "utf8")).toBe(theirs);
    expect(await tempsLeft()).toEqual([]);
  });

  it("catches a writer that strikes while our temp file is being written (final compare)", async () => {
    await seed("web1", OLD);
    const plan = await store.readRuntimeFile(root, "web1");
    const big = Buffer.alloc(8 * 1024 * 1024, "x"); // slow enough to be seen mid-flight
    const theirs = "written by the concurrent writer\n";
    let struck = false;
    const writing = store.writeRuntimeFile(root, "web1", big, { expected: plan.bytes });
    // Strike as soon as our temp file shows up on the node.
    const deadline = Date.now() + 10_000;
    while (!struck && Date.now() < deadline) {
      if ((await tempsLeft()).length > 0) {
        await writeFile(runtimePath("web1"), theirs);
        struck = true;
      }
    }
    expect(struck).toBe(true);
    await expect(writing).rejects.toBeInstanceOf(RuntimeChangedError);
    expect(await readFile(runtimePath("web1"), "utf8")).toBe(theirs);
    expect(await tempsLeft()).toEqual([]);
  });

  it("refuses when the file vanished (instance stopped)", async () => {
    await seed("web1", OLD);
    const plan = await store.readRuntimeFile(root, "web1");
    await rm(runtimePath("web1"));
    await expect(store.writeRuntimeFile(root, "web1", NEW, { expected: plan.bytes })).rejects.toThrow(/no longer exists.*plan the change again/);
    expect(await tempsLeft()).toEqual([]);
  });

  it("refuses a file over 16 MiB, reading and writing", async () => {
    await seed("huge", Buffer.alloc(MAX_RUNTIME_BYTES + 1, "a"));
    await expect(store.readRuntimeFile(root, "huge")).rejects.toThrow(/16 MiB.*not one/);
    await seed("web1", OLD);
    await expect(store.writeRuntimeFile(root, "web1", Buffer.alloc(MAX_RUNTIME_BYTES + 1), { expected: Buffer.from(OLD) })).rejects.toBeInstanceOf(
      RuntimeFileError,
    );
    expect(await tempsLeft()).toEqual([]);
  });

  it("names a missing runtime file clearly", async () => {
    await expect(store.readRuntimeFile(root, "ghost")).rejects.toThrow(/ghost\.runtime does not exist.*not running/);
  });

  it("rejects instance names that could escape the directory", async () => {
    await expect(store.readRuntimeFile(root, "../../etc/passwd")).rejects.toThrow(/not a valid Ganeti instance name/);
    await expect(store.writeRuntimeFile(root, "a/b", NEW, { expected: Buffer.from("") })).rejects.toThrow(/not a valid Ganeti instance name/);
  });

  it("lists instances from conf/*.runtime and ctrl/*.{qmp,kvmd,shutdown}, skipping temps and junk", async () => {
    const l = kvmLayout(root);
    await seed("web1", OLD);
    await seed("db.example.com", OLD);
    await writeFile(join(l.conf, ".web1.runtime.0123456789abcdef.hotplug-desk.new"), "x");
    await writeFile(join(l.conf, "bad name.runtime"), "x");
    await writeFile(join(l.conf, "notes.txt"), "x");
    await writeFile(join(l.ctrl, "web1.qmp"), "");
    await writeFile(join(l.ctrl, "web1.kvmd"), "");
    await writeFile(join(l.ctrl, "web1.monitor"), "");
    await writeFile(join(l.ctrl, "stopped.shutdown"), "");
    await writeFile(join(l.ctrl, "orphan.qmp"), "");
    await writeFile(join(l.ctrl, "-x.qmp"), "");
    const list = await store.listInstances(root);
    expect(Object.fromEntries(list)).toEqual({
      "db.example.com": { hasRuntime: true, hasQmp: false, hasKvmd: false, userShutdown: false },
      orphan: { hasRuntime: false, hasQmp: true, hasKvmd: false, userShutdown: false },
      stopped: { hasRuntime: false, hasQmp: false, hasKvmd: false, userShutdown: true },
      web1: { hasRuntime: true, hasQmp: true, hasKvmd: true, userShutdown: false },
    });
    await expect(store.listInstances(join(dir, "nowhere"))).rejects.toThrow(/not a Ganeti KVM node, or the node root/);
  });

  it("cleanupStaleTemps removes only our temp files, and only old ones", async () => {
    const l = kvmLayout(root);
    const ours = join(l.conf, ".web1.runtime.0123456789abcdef.hotplug-desk.new");
    const other = join(l.conf, ".web1.runtime.tmp");
    await writeFile(ours, "x");
    await writeFile(other, "x");
    expect(await store.cleanupStaleTemps(root)).toEqual([]); // younger than a minute
    expect(await store.cleanupStaleTemps(root, { olderThanMs: 0 })).toEqual([ours]);
    expect((await readdir(l.conf)).sort()).toEqual([".web1.runtime.tmp"]);
  });
});

describe("Journal", () => {
  let jdir: string;
  beforeEach(async () => {
    jdir = await mkdtemp(join(dir, "journal-"));
    await seed("web1", OLD);
  });

  it("keeps previous bytes per write, 0600, and undo restores them", async () => {
    const journal = new Journal(jdir);
    const plan = await store.readRuntimeFile(root, "web1");
    const { entry } = await journal.write(store, { root, instance: "web1", planId: "plan-1", content: NEW, expected: plan.bytes });
    expect(entry.state).toBe("applied");
    expect(entry.previous.toString()).toBe(OLD);
    expect(entry.written.toString()).toBe(NEW);
    expect(await readFile(runtimePath("web1"), "utf8")).toBe(NEW);

    const listed = await journal.list(store.nodeId, "web1");
    expect(listed.map((e) => e.planId)).toEqual(["plan-1"]);
    // Marked applied after the change returned; listing waits for the mark, and another process reads it from disk.
    expect(listed.map((e) => e.state)).toEqual(["applied"]);
    expect((await new Journal(jdir).list(store.nodeId, "web1")).map((e) => e.state)).toEqual(["applied"]);
    const files = await readdir(jdir, { recursive: true, withFileTypes: true });
    const entryFiles = files.filter((f) => f.isFile());
    expect(entryFiles).toHaveLength(1);
    for (const f of entryFiles) expect((await stat(join(f.parentPath, f.name))).mode & 0o777).toBe(0o600);

    const undo = await journal.undo(store, entry);
    expect(undo.planId).toBe(`undo:${entry.id}`);
    expect(await readFile(runtimePath("web1"), "utf8")).toBe(OLD);
    expect((await stat(runtimePath("web1"))).uid).toBe(1234);
    expect((await journal.list(store.nodeId, "web1")).length).toBe(2);
  });

  it("undo refuses when the file changed after our write, and drops nothing it needs", async () => {
    const journal = new Journal(jdir);
    const { entry } = await journal.write(store, { root, instance: "web1", planId: "p", content: NEW, expected: Buffer.from(OLD) });
    await writeFile(runtimePath("web1"), "ganeti wrote this\n");
    await expect(journal.undo(store, entry)).rejects.toBeInstanceOf(RuntimeChangedError);
    expect(await readFile(runtimePath("web1"), "utf8")).toBe("ganeti wrote this\n");
    // The failed undo left no entry behind; the original is still there.
    expect((await journal.list(store.nodeId, "web1")).map((e) => e.planId)).toEqual(["p"]);
  });

  it("keeps only the last N entries per instance", async () => {
    const journal = new Journal(jdir, 3);
    let current = Buffer.from(OLD);
    for (let i = 0; i < 5; i++) {
      const next = Buffer.from(`[["-name", "web1"], {"gen": ${i}}, {}]\n`);
      await journal.write(store, { root, instance: "web1", planId: `p${i}`, content: next, expected: current });
      current = next;
    }
    expect((await journal.list(store.nodeId, "web1")).map((e) => e.planId)).toEqual(["p2", "p3", "p4"]);
    // A run that prepared its entry but never wrote (it failed before the write) costs no history.
    const unused = await journal.prepare(store.nodeId, { root, instance: "web1", planId: "failed-run", content: NEW, expected: current });
    await journal.discard(unused);
    expect((await journal.list(store.nodeId, "web1")).map((e) => e.planId)).toEqual(["p2", "p3", "p4"]);
  });
});

describe("what the node helper refuses", () => {
  it("refuses to replace something that is not a regular file, and creates nothing", async () => {
    const s = await NodeSession.open(sessionTarget(sshd));
    try {
      await rm(runtimePath("web1"), { force: true });
      await mkdir(runtimePath("web1"));
      const err = await new RuntimeStore(s).writeRuntimeFile(root, "web1", NEW, { expected: Buffer.from(OLD) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeFileError);
      expect((err as Error).message).toMatch(/web1\.runtime is not a regular file; refusing to touch it/);
      expect((await stat(runtimePath("web1"))).isDirectory()).toBe(true);
      expect(await tempsLeft()).toEqual([]);
    } finally {
      await rm(runtimePath("web1"), { recursive: true, force: true });
      s.close();
    }
  });
});
