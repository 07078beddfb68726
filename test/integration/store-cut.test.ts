// Cutting the SSH connection in the middle of a runtime write or read. The
// file on the node must be exactly the old bytes or exactly the new ones,
// never a mix, and a read must fail, not hang.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { startSshd, type RunningSshd, sessionTarget } from "../../electron/lab/sshd.js";
import { NodeSession } from "../../electron/ssh/session.js";
import { instancePaths, kvmLayout } from "../../shared/on-node/layout.js";
import { RuntimeStore } from "../../electron/on-node/runtime-store.js";

let dir: string;
let root: string;
let sshd: RunningSshd;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdcut-"));
  sshd = await startSshd(join(dir, "ssh"));
  root = join(dir, "node");
  await mkdir(kvmLayout(root).conf, { recursive: true });
  await mkdir(kvmLayout(root).ctrl, { recursive: true });
});

afterAll(async () => {
  await sshd?.stop();
  await rm(dir, { recursive: true, force: true });
});

const open = () =>
  NodeSession.open(sessionTarget(sshd));

/**
 * A TCP relay in front of sshd that drops both directions once it has
 * passed `cutAfter` bytes towards the node ("up") or from it ("down"): a
 * real network cut at a known point in a transfer, however fast the machine.
 */
async function cuttingRelay(cutAfter: number, direction: "up" | "down"): Promise<{ port: number; knownHostsPath: string; cut: Promise<number>; close(): void }> {
  let resolveCut: (n: number) => void = () => {};
  const cut = new Promise<number>((r) => (resolveCut = r));
  const server: Server = createServer((client) => {
    const upstream = connect(sshd.port, "127.0.0.1");
    let passed = 0;
    const relay = (from: "up" | "down", to: Socket) => (d: Buffer) => {
      if (from === direction) {
        passed += d.length;
        if (passed > cutAfter) {
          client.destroy();
          upstream.destroy();
          resolveCut(passed);
          return;
        }
      }
      to.write(d);
    };
    client.on("data", relay("up", upstream));
    upstream.on("data", relay("down", client));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  const knownHostsPath = join(dir, `known_hosts_relay_${port}`);
  await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${sshd.hostPublicKey}\n`);
  return { port, knownHostsPath, cut, close: () => server.close() };
}

/** A session through a relay that cuts the connection at a known point. */
async function openThroughRelay(cutAfter: number, direction: "up" | "down") {
  const relay = await cuttingRelay(cutAfter, direction);
  const session = await NodeSession.open({ host: "127.0.0.1", port: relay.port, username: sshd.user, privateKeyPath: sshd.privateKeyPath, knownHostsPath: relay.knownHostsPath });
  return { relay, session };
}

const temps = async () => (await readdir(kvmLayout(root).conf)).filter((n) => n.endsWith(".hotplug-desk.new"));

/** Distinct, position-dependent content so a mix of old and new is detectable. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  b.fill(seed, size - (size % 4));
  return b;
}

describe("connection cut during a runtime write", () => {
  it("leaves exactly the old file, and not even a temp file, when the upload is cut", async () => {
    const path = instancePaths(root, "big").runtime;
    const oldBytes = pattern(4 * 1024 * 1024, 1);
    const newBytes = pattern(12 * 1024 * 1024, 2);
    await writeFile(path, oldBytes, { mode: 0o600 });

    // Cut once 2 MiB of the 12 MiB upload has passed towards the node.
    const { relay, session } = await openThroughRelay(2 * 1024 * 1024, "up");
    const store = new RuntimeStore(session);
    const writing = store.writeRuntimeFile(root, "big", newBytes, { expected: oldBytes });
    writing.catch(() => undefined);
    await relay.cut;
    relay.close();
    await expect(writing).rejects.toThrow(/connection|closed/i);

    expect((await readFile(path)).equals(oldBytes)).toBe(true);
    // The node helper starts writing only once the whole request is in: a cut
    // upload creates nothing on the node.
    await new Promise((r) => setTimeout(r, 300));
    expect(await temps()).toEqual([]);
  });

  it("at any cut point the file is exactly old or exactly new", async () => {
    const path = instancePaths(root, "cut").runtime;
    const a = pattern(3 * 1024 * 1024, 3);
    const b = pattern(3 * 1024 * 1024 + 17, 4);
    let current = a;
    await writeFile(path, current, { mode: 0o600 });
    // Time an uncut write, then cut at spread-out fractions of it (including
    // after the end, near the rename).
    const probe = await open();
    const t0 = performance.now();
    await new RuntimeStore(probe).writeRuntimeFile(root, "cut", b, { expected: a });
    const fullMs = performance.now() - t0;
    probe.close();
    current = b;
    const outcomes = { old: 0, new: 0 };
    for (const fraction of [0, 0.1, 0.3, 0.5, 0.7, 0.85, 0.95, 1, 1.1, 1.3]) {
      const next = current === a ? b : a;
      const session = await open();
      const writing = new RuntimeStore(session).writeRuntimeFile(root, "cut", next, { expected: current });
      const result = writing.then(
        () => "done",
        () => "failed",
      );
      await new Promise((r) => setTimeout(r, fullMs * fraction));
      session.client.destroy();
      const status = await result;
      const onDisk = await readFile(path);
      const isOld = onDisk.equals(current);
      const isNew = onDisk.equals(next);
      expect(isOld || isNew, `cut at ${fraction} of ${fullMs.toFixed(0)} ms (${status}): file is neither old nor new`).toBe(true);
      if (status === "done") expect(isNew).toBe(true);
      if (isNew) {
        outcomes.new++;
        current = next;
      } else outcomes.old++;
    }
    expect(outcomes.old + outcomes.new).toBe(10);
    const fresh = await open();
    await new RuntimeStore(fresh).cleanupStaleTemps(root, { olderThanMs: 0 });
    fresh.close();
    expect(await temps()).toEqual([]);
  });
});

describe("connection cut during a runtime read", () => {
  it("rejects with an error instead of hanging", async () => {
    const path = instancePaths(root, "bigread").runtime;
    await writeFile(path, pattern(15 * 1024 * 1024, 5), { mode: 0o600 });
    // Cut once 2 MiB of the 15 MiB file has come back from the node.
    const { relay, session } = await openThroughRelay(2 * 1024 * 1024, "down");
    const store = new RuntimeStore(session);
    // Settle to something small: a read that wrongly succeeded would carry 15 MiB into the report.
    const reading = store.readRuntimeFile(root, "bigread").then(() => "read the whole file", (err: unknown) => err);
    await relay.cut;
    relay.close();
    const started = Date.now();
    const outcome = await reading;
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/SFTP.*(closed|connection)/i);
    expect(Date.now() - started).toBeLessThan(5_000);
    // Later calls on the dead session fail at once, too.
    await expect(store.readRuntimeFile(root, "bigread")).rejects.toThrow();
  });
});
