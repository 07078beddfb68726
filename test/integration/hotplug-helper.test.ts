// The node-side helper is one long-lived python3 per SSH session. These
// check what that must not cost: a process left behind on the node, or a
// dead helper that keeps failing every later step.
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { open as openFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd, sessionTarget } from "../../electron/lab/sshd.js";
import { waitFor } from "../../electron/lab/processes.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { ExecTimeoutError } from "../../electron/on-node/exec.js";
import {
  LinkInfoOut,
  NicFileOut,
  NicFilesOut,
  NODE_HELPER_PY,
  NodeHelperError,
  NodeHelperSkippedError,
  closeNodeHelper,
  runNodeHelper,
  runNodeHelperChain,
} from "../../electron/on-node/node-helper.js";

let dir: string;
let sshd: RunningSshd;
const sessions: NodeSession[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdhelper-"));
  sshd = await startSshd(join(dir, "ssh"));
});

afterEach(() => {
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

/** Helper processes started through this file's sshd (other test files run their own). */
async function helpers(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0");
      // argv[0] may be a full path (a pyenv shim execs the real python3).
      if (!/(^|\/)python3[\d.]*$/.test(argv[0] ?? "") || argv[1] !== "-c" || argv[2] !== NODE_HELPER_PY) continue;
      if (/\) Z /.test(await readFile(`/proc/${entry}/stat`, "utf8"))) continue; // exited, not yet reaped
      const env = (await readFile(`/proc/${entry}/environ`, "utf8")).split("\0");
      const conn = env.find((e) => e.startsWith("SSH_CONNECTION="));
      if (conn?.endsWith(` ${sshd.port}`)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

const noHelpers = () => waitFor("the helper to exit", async () => ((await helpers()).length === 0 ? true : undefined), 15_000);

async function nicDir(files: Record<string, string>): Promise<string> {
  const d = await mkdtemp(join(dir, "nic-"));
  for (const [k, v] of Object.entries(files)) await writeFile(join(d, k), v);
  return d;
}

/** A nic dir whose file 0 is a FIFO: reading it blocks until someone writes. */
async function blockingNicDir(): Promise<{ dir: string; unblock: () => Promise<void> }> {
  const d = await mkdtemp(join(dir, "fifo-"));
  execFileSync("mkfifo", [join(d, "0")]);
  return {
    dir: d,
    unblock: async () => {
      const fh = await openFile(join(d, "0"), "r+").catch(() => undefined);
      await fh?.close();
      await rm(d, { recursive: true, force: true });
    },
  };
}

describe("node helper", () => {
  it("one helper process serves every step of a session, and it is gone after session.close()", async () => {
    const s = await open();
    const d = await nicDir({ "0": "tapA\n", "1": "tapB", junk: "x" });
    expect((await runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut)).files).toEqual({ "0": "tapA", "1": "tapB" });
    const [first, ...more] = await helpers();
    expect(first).toBeDefined();
    expect(more).toEqual([]);
    // Concurrent callers share it, one request at a time, each with its own answer.
    const [a, b, c] = await Promise.all([
      runNodeHelper(s, "link-info", { names: ["lo", "no-such-link0"] }, LinkInfoOut),
      runNodeHelper(s, "nic-files", { dir: join(d, "missing") }, NicFilesOut),
      runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut),
    ]);
    expect(a.links).toEqual({ lo: { exists: true, master: null }, "no-such-link0": { exists: false, master: null } });
    expect(b.files).toEqual({});
    expect(c.files).toEqual({ "0": "tapA", "1": "tapB" });
    expect(await helpers()).toEqual([first]);
    // An op's failure is an answer, not the end of the helper.
    await expect(runNodeHelper(s, "no-such-op", {}, NicFilesOut)).rejects.toBeInstanceOf(NodeHelperError);
    expect(await helpers()).toEqual([first]);

    s.close();
    await noHelpers();
  });

  it("the helper ends when the SSH connection dies, even in the middle of a step", async () => {
    const s = await open();
    const f = await blockingNicDir();
    try {
      const inFlight = runNodeHelper(s, "nic-files", { dir: f.dir }, NicFilesOut).catch((e: unknown) => e);
      await waitFor("the helper", async () => ((await helpers()).length === 1 ? true : undefined), 15_000);
      s.client.destroy();
      expect(await inFlight).toBeInstanceOf(Error);
      // The step finishes (here: the blocked read returns), then the helper sees EOF and exits.
      await f.unblock();
      await noHelpers();
    } finally {
      await f.unblock();
    }
  });

  it("closeNodeHelper ends the helper; the next step starts a new one on the same session", async () => {
    const s = await open();
    const d = await nicDir({ "0": "tap0" });
    await runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut);
    const [first] = await helpers();
    await closeNodeHelper(s);
    await noHelpers();
    expect((await runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut)).files).toEqual({ "0": "tap0" });
    const now = await helpers();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(first);
    s.close();
    await noHelpers();
  });

  it("a helper killed mid-step fails that step as a node-step error; the next call gets a new helper", async () => {
    const s = await open();
    const f = await blockingNicDir();
    const d = await nicDir({ "3": "tap3" });
    try {
      const inFlight = runNodeHelper(s, "nic-files", { dir: f.dir }, NicFilesOut).catch((e: unknown) => e);
      const [pid] = await waitFor("the helper", async () => {
        const h = await helpers();
        return h.length === 1 ? h : undefined;
      }, 15_000);
      process.kill(pid!, "SIGKILL");
      const err = await inFlight;
      expect(err).toBeInstanceOf(NodeHelperError);
      expect((err as Error).message).toMatch(/did not answer/);
      expect((await runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut)).files).toEqual({ "3": "tap3" });
      const now = await helpers();
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(pid);
    } finally {
      await f.unblock();
    }
    s.close();
    await noHelpers();
  });

  it("a chain of requests goes out at once and stops at the first failure: what ran is exactly what answered", async () => {
    const s = await open();
    const d = await mkdtemp(join(dir, "chain-"));
    const ok = join(d, "0");
    const blocked = join(d, "not-a-dir");
    await writeFile(blocked, "a file where a directory must be");
    const never = join(d, "1");
    const [first, second, third] = runNodeHelperChain(s, [
      { op: "nic-file", args: { path: ok, action: "write", content: "tap0" }, schema: NicFileOut },
      { op: "nic-file", args: { path: join(blocked, "2"), action: "write", content: "tap2" }, schema: NicFileOut },
      { op: "nic-file", args: { path: never, action: "write", content: "tap1" }, schema: NicFileOut },
    ]);
    expect(await first).toEqual({ ok: true, previous: null });
    await expect(second).rejects.toBeInstanceOf(NodeHelperError);
    await expect(third).rejects.toBeInstanceOf(NodeHelperSkippedError);
    expect(await readFile(ok, "utf8")).toBe("tap0");
    await expect(readFile(never, "utf8")).rejects.toThrow(/ENOENT/);
    // The helper serves the next request as usual.
    expect((await runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut)).files).toEqual({ "0": "tap0" });
  });

  it("a step past its limit fails with ExecTimeoutError; its helper is dropped and exits once the step returns", async () => {
    const s = await open();
    const f = await blockingNicDir();
    try {
      await expect(runNodeHelper(s, "nic-files", { dir: f.dir }, NicFilesOut, 1_000)).rejects.toBeInstanceOf(ExecTimeoutError);
      const [stuck] = await helpers();
      // The next step does not wait for the stuck one: it gets a helper of its own.
      const d = await nicDir({ "2": "tap2" });
      await mkdir(join(d, "sub"));
      expect((await runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut)).files).toEqual({ "2": "tap2" });
      // sshd may not deliver the KILL signal (the lab's does not); the channel
      // is closed all the same, so the stuck helper sees EOF when its step returns.
      await f.unblock();
      await waitFor("the timed-out helper to exit", async () => (stuck === undefined || !(await helpers()).includes(stuck) ? true : undefined), 15_000);
      expect(await helpers()).toHaveLength(1);
    } finally {
      await f.unblock();
    }
    s.close();
    await noHelpers();
  });
});
