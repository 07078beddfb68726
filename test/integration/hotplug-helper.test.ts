// The node-side helper is one long-lived python3 per SSH session. These
// check what that must not cost: a process left behind on the node, or a
// dead helper that keeps failing every later step.
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { chmod, chown, mkdtemp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { open as openFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd, sessionTarget } from "../../electron/lab/sshd.js";
import { waitFor } from "../../electron/lab/processes.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { ExecOutputLimitError, ExecTimeoutError } from "../../electron/on-node/exec.js";
import {
  LinkInfoOut,
  NicFileOut,
  NicFilesOut,
  NODE_HELPER_PY,
  NodeHelperError,
  NodeHelperSkippedError,
  TapCreateOut,
  TapRemoveOut,
  closeNodeHelper,
  runNodeHelper,
  runNodeHelperChain,
} from "../../electron/on-node/node-helper.js";
import { helperAnswerLost } from "../../electron/hotplug/step-failure.js";
import { InstanceLockError, InstanceLocks } from "../../electron/on-node/instance-lock.js";
import { MAX_RUNTIME_BYTES, RuntimeFileError, RuntimeStore } from "../../electron/on-node/runtime-store.js";
import { instancePaths, kvmLayout } from "../../shared/on-node/layout.js";

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
    // A request no op schema accepts never leaves; an op's failure is an answer, not the end of the helper.
    await expect(runNodeHelper(s, "no-such-op", {}, NicFilesOut)).rejects.toThrow(/there is no node-side step "no-such-op"/);
    await writeFile(join(d, "plain"), "a file where a directory must be");
    await expect(runNodeHelper(s, "nic-file", { path: join(d, "plain", "0"), action: "write", content: "tap0" }, NicFileOut)).rejects.toBeInstanceOf(NodeHelperError);
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
    // Skipped is the helper's word that it did not run: not a lost answer (which might have run).
    expect(helperAnswerLost(await third!.catch((e: unknown) => e))).toBe(false);
    expect(helperAnswerLost(await second!.catch((e: unknown) => e))).toBe(false);
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

// ---- issue 13: what the helper must refuse, through the lab node's sshd.

const isRoot = process.getuid?.() === 0;
const hasTun = existsSync("/dev/net/tun");
const NEEDS_TAPS = "needs root and /dev/net/tun to create taps on this machine";

/** A node root with Ganeti's KVM directories, and instance inst1's runtime file holding `runtime`. */
async function nodeRoot(runtime: string | Buffer = '[["kvm"], [], {}, []]\n'): Promise<string> {
  const root = await mkdtemp(join(dir, "root-"));
  const l = kvmLayout(root);
  for (const d of [l.conf, l.ctrl, l.nic]) await mkdir(d, { recursive: true });
  await writeFile(instancePaths(root, "inst1").runtime, runtime, { mode: 0o600 });
  return root;
}

function tapName(): string {
  return `hdt${randomBytes(4).toString("hex")}`;
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

function deleteLink(name: string): void {
  if (linkExists(name)) spawnSync("ip", ["link", "del", "dev", name]);
}

describe("node helper: what it refuses (issue 13)", () => {
  it("a read error under the lock frees the lock at once and says so", async () => {
    const root = await nodeRoot();
    const s = await open();
    const plain = join(root, "plain-file");
    await writeFile(plain, "x");
    // ENOTDIR: a path whose parent is a file is neither missing nor readable.
    await expect(new InstanceLocks(s, root).acquire("inst1", { check: join(plain, "inst1.runtime"), read: true })).rejects.toThrow(
      /cannot read .*inst1\.runtime under the lock: .*the lock was released/,
    );
    // Another operation gets the lock now, not 30 s later.
    const other = await open();
    const held = await new InstanceLocks(other, root).acquire("inst1");
    expect(held.held).toBe(true);
    await held.release();
  });

  it("a runtime write refuses a lock token its helper does not hold (a lock dropped for silence), and writes nothing", async () => {
    const old = Buffer.from('[["kvm"], [], {}, []]\n');
    const root = await nodeRoot(old);
    const s = await open();
    const lock = await new InstanceLocks(s, root, { staleAfterS: 1, heartbeatMs: 3_600_000 }).acquire("inst1");
    expect((await lock.lost).message).toMatch(/no heartbeat for 1 s/);
    const store = new RuntimeStore(s);
    const write = store.writeRuntimeFile(root, "inst1", '[["kvm", "-new"], [], {}, []]\n', { expected: old, unlock: lock.handOver().token });
    await expect(write).rejects.toBeInstanceOf(RuntimeFileError);
    await expect(write).rejects.toThrow(/does not hold the instance lock .*Nothing was written/);
    expect(await readFile(instancePaths(root, "inst1").runtime)).toEqual(old);
    // A token nobody ever held is refused the same way.
    await expect(store.writeRuntimeFile(root, "inst1", "x\n", { expected: old, unlock: randomBytes(16).toString("hex") })).rejects.toThrow(/does not hold the instance lock/);
  });

  it("a locked read brings back a runtime file of the full 16 MiB limit byte for byte; one byte more is 'too large', and the helper lives", async () => {
    const big = randomBytes(MAX_RUNTIME_BYTES);
    const root = await nodeRoot(big);
    const s = await open();
    const locks = new InstanceLocks(s, root);
    const path = instancePaths(root, "inst1").runtime;
    const lock = await locks.acquire("inst1", { check: path, read: true });
    expect(lock.checked?.size).toBe(MAX_RUNTIME_BYTES);
    expect(lock.checked?.bytes?.equals(big)).toBe(true);
    await lock.release();
    await writeFile(path, Buffer.concat([big, Buffer.from("x")]));
    const again = await locks.acquire("inst1", { check: path, read: true });
    expect(again.checked).toMatchObject({ size: MAX_RUNTIME_BYTES + 1, regular: true });
    expect(again.checked?.bytes).toBeUndefined();
    await again.release();
    expect(await helpers()).toHaveLength(1);
  });

  it("an answer longer than the limit still ends the helper with a clear error", async () => {
    // The limit exists: a nic dir whose listing would be larger than any answer may be.
    const s = await open();
    const d = await mkdtemp(join(dir, "huge-"));
    const name = "t".repeat(4000);
    for (let i = 0; i < 6_000; i++) await writeFile(join(d, String(i)), name);
    await expect(runNodeHelper(s, "nic-files", { dir: d }, NicFilesOut)).rejects.toBeInstanceOf(ExecOutputLimitError);
    await rm(d, { recursive: true, force: true });
  });

  it("interface names from the node that Linux would cut or that are not taps of the instance are refused, never deleted", async () => {
    const root = await nodeRoot();
    const s = await open();
    const nicDir = instancePaths(root, "inst1").nicDir;
    await mkdir(nicDir, { recursive: true });
    // Checked before it leaves: 17 bytes would be cut to 15 by the kernel's ifreq.
    await expect(
      runNodeHelper(s, "tap-create", { tap: "tap0123456789abcd", link: "br0", mode: "bridged", root, env: {}, instance: "inst1" }, TapCreateOut),
    ).rejects.toThrow(/"tap0123456789abcd" is not a usable interface name: at most 15 bytes/);
    await expect(runNodeHelper(s, "tap-create", { tap: "tap0", link: "br0/../eth0", mode: "bridged", root, env: {}, instance: "inst1" }, TapCreateOut)).rejects.toThrow(
      /bridge "br0\/..\/eth0" is not a usable interface name/,
    );
    // Names read on the node (nic files) are checked there.
    await writeFile(join(nicDir, "0"), "averyveryverylongtapname\n");
    await expect(runNodeHelper(s, "tap-remove", { tap: null, nicFile: join(nicDir, "0"), instance: "inst1" }, TapRemoveOut)).rejects.toThrow(
      /tap "averyveryverylongtapname" is not a usable Linux interface name/,
    );
    await writeFile(join(nicDir, "1"), "lo\n");
    await expect(runNodeHelper(s, "tap-remove", { tap: null, nicFile: join(nicDir, "1"), instance: "inst1" }, TapRemoveOut)).rejects.toThrow(
      /refusing to delete lo: it is not a tap device/,
    );
    expect(linkExists("lo")).toBe(true);
    // A nic file of another instance does not vouch for this one's tap.
    await expect(runNodeHelper(s, "tap-remove", { tap: null, nicFile: join(nicDir, "1"), instance: "inst2" }, TapRemoveOut)).rejects.toThrow(
      /is not a nic file of instance inst2/,
    );
  });

  it("a tap is deleted only when Ganeti recorded it for the instance or the app made it for the instance", async (ctx) => {
    if (!isRoot || !hasTun) ctx.skip(`${NEEDS_TAPS}`);
    const root = await nodeRoot();
    const nicDir = instancePaths(root, "inst1").nicDir;
    await mkdir(nicDir, { recursive: true });
    const foreign = tapName();
    const ours = tapName();
    const s = await open();
    try {
      execFileSync("ip", ["tuntap", "add", "dev", foreign, "mode", "tap"]);
      await writeFile(join(nicDir, "0"), "tapsomeother\n");
      await expect(runNodeHelper(s, "tap-remove", { tap: foreign, nicFile: join(nicDir, "0"), instance: "inst1" }, TapRemoveOut)).rejects.toThrow(
        new RegExp(`refusing to delete tap ${foreign}: it was not made for instance inst1`),
      );
      expect(linkExists(foreign)).toBe(true);
      // Ganeti's record for the instance names it: that is the instance's tap.
      await writeFile(join(nicDir, "0"), `${foreign}\n`);
      expect(await runNodeHelper(s, "tap-remove", { tap: foreign, nicFile: join(nicDir, "0"), instance: "inst1" }, TapRemoveOut)).toEqual({
        ok: true,
        tap: foreign,
        removed: true,
      });
      expect(linkExists(foreign)).toBe(false);

      // One the app made (routed: no bridge needed), removed after its helper restarted: it carries the instance's label.
      const made = await runNodeHelper(s, "tap-create", { tap: ours, link: "", mode: "routed", root, env: {}, instance: "inst1" }, TapCreateOut);
      expect(made.tap).toBe(ours);
      expect((await readFile(`/sys/class/net/${ours}/ifalias`, "utf8")).trim()).toBe("hotplug-desk:inst1");
      await closeNodeHelper(s);
      await expect(runNodeHelper(s, "tap-remove", { tap: ours, instance: "inst2" }, TapRemoveOut)).rejects.toThrow(/not made for instance inst2/);
      expect(linkExists(ours)).toBe(true);
      expect((await runNodeHelper(s, "tap-remove", { tap: ours, instance: "inst1" }, TapRemoveOut)).removed).toBe(true);
      expect(linkExists(ours)).toBe(false);
    } finally {
      deleteLink(foreign);
      deleteLink(ours);
    }
  });

  it("the lock directory must be owned by root and not group/other-writable on the whole way down", async (ctx) => {
    const s = await open();
    const open777 = await nodeRoot();
    await chmod(open777, 0o777);
    await expect(new InstanceLocks(s, open777).acquire("inst1")).rejects.toBeInstanceOf(InstanceLockError);
    await expect(new InstanceLocks(s, open777).acquire("inst1")).rejects.toThrow(
      new RegExp(`refusing to use the lock directory .*: ${open777} is writable by group and others \\(mode 0777\\).*chmod go-w`),
    );
    expect(existsSync(join(open777, "var/run/hotplug-desk/locks/inst1.lock"))).toBe(false);
    // A root-owned sticky directory (like /tmp) on the way is fine: nobody else can replace what root owns in it.
    const sticky = await nodeRoot();
    await chmod(sticky, 0o1777);
    const held = await new InstanceLocks(s, sticky).acquire("inst1");
    await held.release();
    if (!isRoot) ctx.skip("needs root to give a directory on the way another owner");
    const foreign = await nodeRoot();
    await chown(foreign, 65534, 65534);
    await expect(new InstanceLocks(s, foreign).acquire("inst1")).rejects.toThrow(new RegExp(`${foreign} is owned by uid 65534`));
  });

  it("an ifup hook under a root others can write is refused before anything is created or run", async (ctx) => {
    if (!isRoot || !hasTun) ctx.skip(`${NEEDS_TAPS} (without them the old helper failed before the hook too, so the test would prove nothing)`);
    const root = await nodeRoot();
    const hookDir = join(root, "etc/ganeti");
    await mkdir(hookDir, { recursive: true });
    const marker = join(root, "hook-ran");
    await writeFile(join(hookDir, "kvm-ifup-custom"), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    await chmod(join(root, "etc"), 0o777);
    const tap = tapName();
    const s = await open();
    try {
      await expect(runNodeHelper(s, "tap-create", { tap, link: "", mode: "routed", root, env: {}, instance: "inst1" }, TapCreateOut)).rejects.toThrow(
        new RegExp(`refusing to use the ifup hook ${root}/etc/ganeti/kvm-ifup-custom: ${root}/etc is writable by group and others`),
      );
      expect(existsSync(marker)).toBe(false);
      expect(linkExists(tap)).toBe(false);
      // Made safe, the same hook runs.
      await chmod(join(root, "etc"), 0o755);
      const r = await runNodeHelper(s, "tap-create", { tap, link: "", mode: "routed", root, env: {}, instance: "inst1" }, TapCreateOut);
      expect(r.hook).toBe(join(hookDir, "kvm-ifup-custom"));
      expect(existsSync(marker)).toBe(true);
    } finally {
      deleteLink(tap);
    }
  });

  it("a line on the helper's stdout that is not the protocol fails the waiting step at once and restarts the helper", async (ctx) => {
    if (!isRoot || !hasTun) ctx.skip(`${NEEDS_TAPS} (an ifup hook is the node-side code that can write to the helper's stdout)`);
    // A misbehaving hook writes to its parent's stdout (the SSH channel), ahead of the helper's answer.
    const root = await nodeRoot();
    await mkdir(join(root, "etc/ganeti"), { recursive: true });
    await writeFile(join(root, "etc/ganeti/kvm-ifup-custom"), "#!/bin/sh\necho 'hook says hello' > /proc/$PPID/fd/1\n", { mode: 0o755 });
    const tap = tapName();
    const s = await open();
    try {
      const step = runNodeHelper(s, "tap-create", { tap, link: "", mode: "routed", root, env: {}, instance: "inst1" }, TapCreateOut, 20_000);
      await expect(step).rejects.toBeInstanceOf(NodeHelperError);
      await expect(step).rejects.toThrow(/"tap-create" .* did not answer with JSON: hook says hello/);
      // The next step gets a fresh helper.
      expect((await runNodeHelper(s, "link-info", { names: ["lo"] }, LinkInfoOut)).links.lo?.exists).toBe(true);
    } finally {
      deleteLink(tap);
    }
  });

  it("a runtime file with bytes that are not UTF-8 is refused, not read with replacement characters", async () => {
    const text = '[["kvm", "-name", "inst1"], [], {}, []]\n';
    const bytes = Buffer.from(text);
    bytes[bytes.indexOf("inst1")] = 0xff;
    const root = await nodeRoot(bytes);
    const s = await open();
    await expect(new RuntimeStore(s).readRuntimeFile(root, "inst1")).rejects.toThrow(
      new RegExp(`${instancePaths(root, "inst1").runtime} on .* has bytes that are not UTF-8 \\(the first at byte ${text.indexOf("inst1")}\\)`),
    );
  });
});
