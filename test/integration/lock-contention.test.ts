// The per-instance lock on the node, contended by two SSH sessions to the
// lab's real sshd (standing in for two app windows or two machines).
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd, sessionTarget } from "../../electron/lab/sshd.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { InstanceLockedError, InstanceLocks, lockHolderSchema, type HeldLock } from "../../electron/on-node/instance-lock.js";
import { execOnNode, ExecOutputLimitError, ExecTimeoutError } from "../../electron/on-node/exec.js";

let dir: string;
let root: string;
let sshd: RunningSshd;
const sessions: NodeSession[] = [];
const held: HeldLock[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdlock-"));
  sshd = await startSshd(join(dir, "ssh"));
  root = join(dir, "node");
});

afterEach(async () => {
  for (const l of held.splice(0)) await l.release().catch(() => undefined);
  for (const s of sessions.splice(0)) s.client.destroy();
});

afterAll(async () => {
  await sshd?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function open(): Promise<NodeSession> {
  const s = await NodeSession.open(sessionTarget(sshd));
  sessions.push(s);
  return s;
}

const keep = (l: HeldLock) => (held.push(l), l);

describe("execOnNode", () => {
  it("runs argv without a shell's interpretation and returns code, stdout, stderr", async () => {
    const s = await open();
    const r = await execOnNode(s, ["sh", "-c", 'printf "%s|" "$@"; echo err >&2; exit 3', "sh", "a b", "$(id)", "'; echo pwned"]);
    expect(r).toEqual({ code: 3, signal: null, stdout: "a b|$(id)|'; echo pwned|", stderr: "err\n" });
  });

  it("feeds stdin", async () => {
    const s = await open();
    expect((await execOnNode(s, ["cat"], { stdin: "hello\n" })).stdout).toBe("hello\n");
  });

  it("enforces the timeout by closing the channel", async () => {
    const s = await open();
    const t0 = Date.now();
    await expect(execOnNode(s, ["sleep", "5"], { timeoutMs: 500 })).rejects.toBeInstanceOf(ExecTimeoutError);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it("enforces the output limit", async () => {
    const s = await open();
    await expect(execOnNode(s, ["head", "-c", "100000", "/dev/zero"], { maxOutput: 1000 })).rejects.toBeInstanceOf(ExecOutputLimitError);
  });
});

describe("InstanceLocks", () => {
  it("a second session is refused with the first holder named, and can take it after release", async () => {
    const a = new InstanceLocks(await open(), root);
    const b = new InstanceLocks(await open(), root);
    const lock = keep(await a.acquire("web1", { holder: { app: "hotplug-desk window A", host: "desk-a", user: "alice", pid: 4242 } }));
    expect(lock.held).toBe(true);

    const path = a.lockPath("web1");
    expect(path).toBe(`${root}/var/run/hotplug-desk/locks/web1.lock`);
    const recorded = lockHolderSchema.parse(JSON.parse(await readFile(`${path}.holder`, "utf8")));
    expect(recorded).toMatchObject({ app: "hotplug-desk window A", host: "desk-a", user: "alice", pid: 4242 });

    const err = await b.acquire("web1", { holder: { app: "window B" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InstanceLockedError);
    const msg = (err as Error).message;
    expect(msg).toContain("locked by hotplug-desk window A (user alice on desk-a, pid 4242)");
    expect(msg).toContain(`since ${recorded.startedAt}`);
    expect((err as InstanceLockedError).holder?.pid).toBe(4242);

    // Another instance is independent.
    keep(await b.acquire("web2"));

    await lock.release();
    expect(lock.held).toBe(false);
    const second = keep(await b.acquire("web1", { timeoutMs: 2_000 }));
    expect(second.held).toBe(true);
  });

  it("waits up to timeoutMs and no longer", async () => {
    const a = new InstanceLocks(await open(), root);
    const b = new InstanceLocks(await open(), root);
    keep(await a.acquire("web3"));
    const t0 = Date.now();
    await expect(b.acquire("web3", { timeoutMs: 1_500 })).rejects.toThrow(/locked by hotplug-desk/);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(1_400);
    expect(waited).toBeLessThan(5_000);
  });

  it("acquires once the holder releases while we wait", async () => {
    const a = new InstanceLocks(await open(), root);
    const b = new InstanceLocks(await open(), root);
    const lock = keep(await a.acquire("web4"));
    setTimeout(() => void lock.release(), 700);
    const t0 = Date.now();
    keep(await b.acquire("web4", { timeoutMs: 10_000 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
  });

  it("frees the lock within seconds when the holder's SSH connection is destroyed", async () => {
    const holderSession = await open();
    const a = new InstanceLocks(holderSession, root);
    const b = new InstanceLocks(await open(), root);
    const lock = await a.acquire("web5");
    await expect(b.acquire("web5")).rejects.toBeInstanceOf(InstanceLockedError);
    holderSession.client.destroy(); // abrupt: no SSH disconnect message
    const t0 = Date.now();
    keep(await b.acquire("web5", { timeoutMs: 10_000, retryMs: 100 }));
    const freedMs = Date.now() - t0;
    expect(freedMs).toBeLessThan(5_000);
    const lost = await lock.lost;
    expect(lost.message).toMatch(/was lost.*SSH connection closed/);
  });

  it("the node drops a lock whose holder stops sending heartbeats, and the holder learns it", async () => {
    const silent = new InstanceLocks(await open(), root, { heartbeatMs: 60_000, staleAfterS: 1 });
    const b = new InstanceLocks(await open(), root);
    const lock = await silent.acquire("web6");
    const t0 = Date.now();
    const lost = await lock.lost;
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(lost.message).toMatch(/no heartbeat/);
    expect(lock.held).toBe(false);
    // A holder dropped for silence may have been mid-change: the next taker is not told "quiet".
    expect(keep(await b.acquire("web6", { timeoutMs: 2_000 })).quietMs).toBeNull();
  });

  it("a holder that keeps its heartbeat keeps the lock past staleAfterS", async () => {
    const a = new InstanceLocks(await open(), root, { heartbeatMs: 200, staleAfterS: 1 });
    const b = new InstanceLocks(await open(), root);
    const lock = keep(await a.acquire("web7"));
    await new Promise((r) => setTimeout(r, 2_500));
    expect(lock.held).toBe(true);
    await expect(b.acquire("web7")).rejects.toBeInstanceOf(InstanceLockedError);
  });

  it("two takers on one SSH session (one node helper) still exclude each other", async () => {
    const s = await open();
    const a = new InstanceLocks(s, root);
    const b = new InstanceLocks(s, root);
    const lock = keep(await a.acquire("web9", { holder: { app: "first taker" } }));
    await expect(b.acquire("web9")).rejects.toThrow(/locked by first taker/);
    await lock.release();
    expect(keep(await b.acquire("web9")).held).toBe(true);
  });

  it("the lock request reads the file it is asked to check, under the lock", async () => {
    const a = new InstanceLocks(await open(), root);
    const file = join(dir, "checked.runtime");
    await writeFile(file, "abc");
    const lock = keep(await a.acquire("web10", { check: file }));
    // sha256("abc")
    expect(lock.checked).toEqual({ sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", size: 3, regular: true });
    const gone = keep(await a.acquire("web11", { check: join(dir, "missing.runtime") }));
    expect(gone.checked).toBeNull();
  });

  it("asked to read, the lock request brings back the file's bytes as they were under the lock", async () => {
    const a = new InstanceLocks(await open(), root);
    const b = new InstanceLocks(await open(), root);
    const file = join(dir, "read.runtime");
    await writeFile(file, "before");
    const first = await a.acquire("web12");
    // The second taker waits; the holder changes the file before it lets go.
    const waiting = b.acquire("web12", { timeoutMs: 10_000, retryMs: 100, check: file, read: true });
    await new Promise((r) => setTimeout(r, 300));
    await writeFile(file, "after the holder's change");
    await first.release();
    const second = keep(await waiting);
    expect(second.checked?.bytes?.toString()).toBe("after the holder's change");
    expect(second.checked?.size).toBe("after the holder's change".length);
  });

  it("says how long the lock had been free, and that it cannot tell after a holder died holding it", async () => {
    const a = new InstanceLocks(await open(), root);
    const first = await a.acquire("web13");
    await first.release();
    await new Promise((r) => setTimeout(r, 250));
    const quiet = keep(await a.acquire("web13"));
    // Released about 250 ms before: the node's clock says at least that, and not hours.
    expect(quiet.quietMs).toBeGreaterThanOrEqual(240);
    expect(quiet.quietMs).toBeLessThan(10_000);
    await quiet.release();
    // A holder whose connection dies leaves its holder record: the next taker is told "unknown".
    const doomed = await open();
    await new InstanceLocks(doomed, root).acquire("web13");
    doomed.client.destroy();
    const after = keep(await a.acquire("web13", { timeoutMs: 10_000, retryMs: 100 }));
    expect(after.quietMs).toBeNull();
  });

  it("release removes the holder record; the lock file stays (flock needs no cleanup)", async () => {
    const a = new InstanceLocks(await open(), root);
    const lock = await a.acquire("web8");
    const path = a.lockPath("web8");
    expect((await stat(`${path}.holder`)).isFile()).toBe(true);
    await lock.release();
    await expect(stat(`${path}.holder`)).rejects.toThrow(/ENOENT/);
    expect((await stat(path)).isFile()).toBe(true);
  });

  it("rejects instance names that could escape the lock directory", async () => {
    const a = new InstanceLocks(await open(), root);
    await expect(a.acquire("../x")).rejects.toThrow(/not a valid Ganeti instance name/);
  });
});
