// Node settings on disk (atomic, 0600, validated, corrupt files moved aside
// and reported), the two known_hosts files read as one, and the backoff.
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SettingsStore } from "../../electron/node-registry/settings-store";
import { combineKnownHosts } from "../../electron/node-registry/host-trust";
import { DEFAULT_BACKOFF, backoffDelay } from "../../electron/node-registry/backoff";
import { NodeManager } from "../../electron/node-registry/node-manager";
import { NodeConfigSchema, type NodeConfig } from "../../shared/node-registry/schema";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdsettings-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const node = (id: string): NodeConfig => NodeConfigSchema.parse({ id, name: id, host: `${id}.lab`, user: "root", auth: { kind: "key", keyPath: "/home/me/.ssh/id" } });

describe("SettingsStore", () => {
  it("round-trips nodes through an 0600 file and leaves no temp files", async () => {
    const store = new SettingsStore({ dataDir: dir, userKnownHostsPath: null });
    expect(await store.load()).toEqual({ nodes: [] });
    await Promise.all([store.save([node("a")]), store.save([node("a"), node("b")])]);
    expect((await store.load()).nodes.map((n) => n.id)).toEqual(["a", "b"]);
    expect((await stat(store.nodesPath)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["nodes.json"]);
    expect(JSON.parse(await readFile(store.nodesPath, "utf8"))).toMatchObject({ version: 1 });
  });

  it("removes temp files a crash left behind, and nothing else", async () => {
    const store = new SettingsStore({ dataDir: dir, userKnownHostsPath: null });
    const names = ["nodes.json.123.abcdef.tmp", ".known_hosts.node-1.0a1b.tmp", "known_hosts", "notes.tmp"];
    for (const n of names) await writeFile(join(dir, n), "x");
    await store.load();
    expect((await readdir(dir)).sort()).toEqual(["known_hosts", "notes.tmp"]);
  });

  it("refuses to write an invalid list", async () => {
    const store = new SettingsStore({ dataDir: dir, userKnownHostsPath: null });
    expect(() => store.save([node("a"), node("a")])).toThrow(/used by two nodes/);
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([
    ["not JSON", "{ nodes: [", /not valid JSON/],
    ["a secret", JSON.stringify({ version: 1, nodes: [{ ...node("a"), password: "x" }] }), /secrets are never stored/],
    ["a bad port", JSON.stringify({ version: 1, nodes: [{ ...node("a"), port: 0 }] }), /port must be/],
  ])("moves a file with %s aside and reports why", async (_what, content, reason) => {
    const store = new SettingsStore({ dataDir: dir, userKnownHostsPath: null });
    await writeFile(store.nodesPath, content);
    const loaded = await store.load();
    expect(loaded.nodes).toEqual([]);
    expect(loaded.corrupt?.movedTo).toMatch(/nodes\.json\.corrupt-\d{4}-/);
    expect(loaded.corrupt?.reasons.join("\n")).toMatch(reason);
    expect(await readFile(loaded.corrupt!.movedTo, "utf8")).toBe(content);
    expect(await readdir(dir)).not.toContain("nodes.json");
  });

  it("reads the app's and the user's known_hosts, and only appends to the app's", async () => {
    const user = join(dir, "user_known_hosts");
    await writeFile(user, "host1 ssh-ed25519 AAAA\n");
    const store = new SettingsStore({ dataDir: join(dir, "app"), userKnownHostsPath: user });
    expect(await store.knownHostsSources()).toEqual([
      { path: join(dir, "app", "known_hosts"), text: "" },
      { path: user, text: "host1 ssh-ed25519 AAAA\n" },
    ]);
    await store.appendKnownHost("[h]:2222 ssh-ed25519 BBBB");
    await store.appendKnownHost("[h]:2223 ssh-ed25519 CCCC\n");
    expect(await readFile(store.knownHostsPath, "utf8")).toBe("[h]:2222 ssh-ed25519 BBBB\n[h]:2223 ssh-ed25519 CCCC\n");
    expect((await stat(store.knownHostsPath)).mode & 0o777).toBe(0o600);
    expect(await readFile(user, "utf8")).toBe("host1 ssh-ed25519 AAAA\n");
  });

  it("NodeManager.open brings back saved nodes and reports a corrupt file", async () => {
    const store = new SettingsStore({ dataDir: dir, userKnownHostsPath: null });
    const first = await NodeManager.open({ store });
    await first.add(node("a"));
    await first.addFromRequest({ host: "root@b.lab:2200" });
    await first.dispose();
    const second = await NodeManager.open({ store });
    expect(second.list().map((n) => [n.id, n.port])).toEqual([
      ["a", 22],
      ["b-lab", 2200],
    ]);
    expect(second.statuses().map((s) => s.state)).toEqual(["disconnected", "disconnected"]);
    await expect(second.add(node("a"))).rejects.toThrow(/exists already/);
    await expect(second.add({ ...node("c"), port: 0 })).rejects.toThrow(/port must be/);
    await second.remove("a");
    expect(second.list().map((n) => n.id)).toEqual(["b-lab"]);
    await expect(second.connect("a")).rejects.toThrow(/No node with id "a"/);
    await second.dispose();

    await writeFile(store.nodesPath, "garbage");
    const third = await NodeManager.open({ store });
    expect(third.list()).toEqual([]);
    expect(third.loadProblem?.reasons.join()).toMatch(/not valid JSON/);
    await third.dispose();
  });

  it("a node using ssh-agent fails with a clear reason when no agent runs", async () => {
    const saved = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const manager = await NodeManager.open({ store: new SettingsStore({ dataDir: dir, userKnownHostsPath: null }) });
      await manager.add({ id: "n", name: "n", host: "127.0.0.1", user: "root", auth: { kind: "agent" } });
      const s = await manager.connect("n");
      expect(s.state).toBe("failed");
      expect(s.detail).toMatch(/SSH_AUTH_SOCK is not set/);
      await manager.dispose();
    } finally {
      if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved;
    }
  });
});

describe("known_hosts files read as one", () => {
  it("maps lines of the joined text back to their file", () => {
    const c = combineKnownHosts([
      { path: "/app", text: "a\nb" },
      { path: "/empty", text: "" },
      { path: "/user", text: "# c\nd\n" },
    ]);
    expect(c.text).toBe("a\nb\n# c\nd\n");
    expect([1, 2, 3, 4].map((l) => c.locate(l))).toEqual([
      { file: "/app", line: 1 },
      { file: "/app", line: 2 },
      { file: "/user", line: 1 },
      { file: "/user", line: 2 },
    ]);
  });
});

describe("backoff", () => {
  it("doubles from 1 s up to 60 s without jitter", () => {
    const policy = { ...DEFAULT_BACKOFF, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffDelay(n, policy))).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });

  it("jitter only shortens, never below (1 - jitter) of the base, never above the cap", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
        const d = backoffDelay(n, DEFAULT_BACKOFF, () => r);
        const base = backoffDelay(n, { ...DEFAULT_BACKOFF, jitter: 0 });
        expect(d).toBeLessThanOrEqual(base);
        expect(d).toBeGreaterThanOrEqual(Math.floor(base * (1 - DEFAULT_BACKOFF.jitter)));
        expect(d).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs);
      }),
    );
  });
});
