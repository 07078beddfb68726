// NodeManager against the lab's real OpenSSH sshd: host-key trust across the
// app's and the user's known_hosts, the connect / lose / back off / reconnect
// cycle, authentication failures that must not loop, a clean dispose, and
// encrypted key files (passphrase asked for, wrong one refused, never shown).
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { appendFile, mkdtemp, mkdir, readdir, readFile, rm, writeFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tcpConnect } from "node:net";
import { freePort, startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { descendantsOf, runCommand, startProcess, stopProcess, waitFor, type LabProcess } from "../../electron/lab/processes.js";
import { NodeManager, NodeManagerError, type NodeManagerEvent } from "../../electron/node-registry/node-manager.js";
import { SettingsStore } from "../../electron/node-registry/settings-store.js";
import type { NodeConfigInput, NodeState, NodeStatus } from "../../shared/node-registry/schema.js";
import { MEMORY_ONLY_REASON, PassphraseStore } from "../../electron/app/passphrase-store.js";
import { composeApp } from "../../electron/app/compose.js";
import { toWireError } from "../../electron/app/dispatch.js";
import { SetPassphraseResponseSchema, type AppInfo } from "../../shared/ipc/contract.js";
import { SECRETS_FILE, SecretStore } from "../../electron/main/secrets.js";
import { FakeKeychainSafeStorage } from "../unit/fake-keychain.js";

let dir: string;
let sshdDir: string;
let sshd: RunningSshd;
/** The sshd currently serving sshd.port (replaced when a test restarts it). */
let sshdProc: LabProcess;
const managers: NodeManager[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdnodes-"));
  sshdDir = join(dir, "ssh");
  sshd = await startSshd(sshdDir);
  sshdProc = sshd.process;
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.dispose()));
});

afterAll(async () => {
  if (sshdProc) await stopProcess(sshdProc);
  await rm(dir, { recursive: true, force: true });
});

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** A second sshd with the lab's config (same port, same host key), as after a node reboot. */
async function restartSshd(): Promise<LabProcess> {
  const proc = startProcess("sshd", "/usr/sbin/sshd", ["-D", "-e", "-f", join(sshdDir, "sshd_config")]);
  await Promise.race([
    waitFor(`sshd back on ${sshd.port}`, async () => ((await portAccepts(sshd.port)) ? true : undefined), 15_000),
    proc.exited.then(() => {
      throw new Error(`restarted sshd exited: ${proc.output()}`);
    }),
  ]);
  return proc;
}

/** Stops sshd and the per-connection processes it forked (which outlive the listener otherwise). */
async function stopSshdCompletely(): Promise<void> {
  const pid = sshdProc.child.pid;
  const children = pid ? await descendantsOf(pid) : [];
  await stopProcess(sshdProc);
  for (const child of children) {
    try {
      process.kill(child, "SIGTERM");
    } catch {
      // already gone
    }
  }
}

let counter = 0;
async function newManager(opts: { userKnownHosts?: string; backoff?: { initialMs: number; maxMs: number } } = {}) {
  const dataDir = join(dir, `data-${++counter}`);
  await mkdir(dataDir, { recursive: true });
  const store = new SettingsStore({ dataDir, userKnownHostsPath: opts.userKnownHosts ?? join(dataDir, "no-such-user-known_hosts") });
  const manager = await NodeManager.open({
    store,
    backoff: opts.backoff ?? { initialMs: 200, maxMs: 1_000 },
    keepaliveIntervalMs: 1_000,
    readyTimeoutMs: 10_000,
  });
  managers.push(manager);
  const events: NodeManagerEvent[] = [];
  manager.subscribe((e) => events.push(e));
  return { manager, store, dataDir, events };
}

function labNode(extra: Partial<NodeConfigInput> = {}): NodeConfigInput {
  return { id: "lab", name: "Lab node", host: sshd.host, port: sshd.port, user: sshd.user, auth: { kind: "key", keyPath: sshd.privateKeyPath }, ...extra };
}

function waitForState(manager: NodeManager, id: string, state: NodeState, timeoutMs = 20_000, extra: (s: NodeStatus) => boolean = () => true): Promise<NodeStatus> {
  return new Promise((resolve, reject) => {
    const check = (s: NodeStatus | undefined) => s !== undefined && s.state === state && extra(s);
    const now = manager.status(id);
    if (check(now)) return resolve(now!);
    const timer = setTimeout(() => {
      off();
      reject(new Error(`node ${id} did not reach ${state} in ${timeoutMs} ms; it is ${JSON.stringify(manager.status(id))}`));
    }, timeoutMs);
    const off = manager.subscribe((e) => {
      if (e.type === "status" && e.status.id === id && check(e.status)) {
        clearTimeout(timer);
        off();
        resolve(e.status);
      }
    });
  });
}

const statesOf = (events: NodeManagerEvent[], id = "lab") => events.flatMap((e) => (e.type === "status" && e.status.id === id ? [e.status.state] : []));

async function otherHostKey(name: string): Promise<{ line: string; fingerprint: string }> {
  const path = join(dir, name);
  await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path]);
  const pub = (await readFile(`${path}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
  const fingerprint = (await runCommand("ssh-keygen", ["-l", "-E", "sha256", "-f", `${path}.pub`])).split(/\s+/)[1] ?? "";
  return { line: pub, fingerprint };
}

describe("NodeManager against the lab sshd", () => {
  it("connects a node whose key the user's known_hosts trusts, emitting every state change", async () => {
    const before = await readFile(sshd.knownHostsPath, "utf8");
    const { manager, events } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    await manager.add(labNode());
    expect(manager.status("lab")?.state).toBe("disconnected");
    const status = await manager.connect("lab");
    expect(status.state).toBe("ready");
    expect(statesOf(events)).toEqual(["disconnected", "connecting", "ready"]);
    const session = await manager.session("lab");
    const sftp = await session.sftp();
    const entries = await new Promise<string[]>((resolve, reject) => sftp.readdir(sshdDir, (err, list) => (err ? reject(err) : resolve(list.map((e) => e.filename)))));
    expect(entries).toContain("sshd_config");
    sftp.end();
    // The user's file is only read.
    expect(await readFile(sshd.knownHostsPath, "utf8")).toBe(before);
  });

  it("session() connects a disconnected node and waits for it", async () => {
    const { manager } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    await manager.add(labNode());
    const session = await manager.session("lab", 20_000);
    expect(session.label).toBe(`${sshd.user}@127.0.0.1:${sshd.port}`);
    expect(manager.status("lab")?.state).toBe("ready");
  });

  it("fails on an unknown host key, refuses a wrong fingerprint and trusts the right one", async () => {
    const { manager, store, events } = await newManager();
    await manager.add(labNode());
    const failed = await manager.connect("lab");
    expect(failed.state).toBe("failed");
    expect(failed.hostKey).toMatchObject({ verdict: "unknown", fingerprint: sshd.hostKeyFingerprint, keyType: "ssh-ed25519" });
    expect(failed.detail).toContain(sshd.hostKeyFingerprint);
    await expect(manager.session("lab")).rejects.toThrow(sshd.hostKeyFingerprint);

    const other = await otherHostKey("unrelated_key");
    const wrong = await manager.trustHostKey("lab", other.fingerprint).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(NodeManagerError);
    expect((wrong as NodeManagerError).code).toBe("host-key-refused");
    expect((wrong as Error).message).toContain(sshd.hostKeyFingerprint);
    expect(existsSync(store.knownHostsPath)).toBe(false);
    expect(manager.status("lab")?.state).toBe("failed");

    await manager.trustHostKey("lab", sshd.hostKeyFingerprint);
    await waitForState(manager, "lab", "ready");
    const written = await readFile(store.knownHostsPath, "utf8");
    expect(written).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    expect((await stat(store.knownHostsPath)).mode & 0o777).toBe(0o600);
    expect(statesOf(events)).toEqual(["disconnected", "connecting", "failed", "connecting", "ready"]);
    // Nothing left to trust once the key is known.
    await expect(manager.trustHostKey("lab", sshd.hostKeyFingerprint)).rejects.toThrow(/no host key waiting/);
  });

  it("refuses a changed host key and names both fingerprints and the known_hosts line", async () => {
    const userKnownHosts = join(dir, "changed_known_hosts");
    const other = await otherHostKey("old_host_key");
    await writeFile(userKnownHosts, `# lab\n[127.0.0.1]:${sshd.port} ${other.line}\n`);
    const { manager, store } = await newManager({ userKnownHosts });
    await manager.add(labNode());
    const status = await manager.connect("lab");
    expect(status.state).toBe("failed");
    expect(status.hostKey).toMatchObject({
      verdict: "changed",
      fingerprint: sshd.hostKeyFingerprint,
      knownFingerprints: [other.fingerprint],
      knownAt: [{ file: userKnownHosts, line: 2 }],
    });
    expect(status.detail).toContain(sshd.hostKeyFingerprint);
    expect(status.detail).toContain(other.fingerprint);
    expect(status.detail).toContain(`${userKnownHosts} line 2`);

    const refused = await manager.trustHostKey("lab", sshd.hostKeyFingerprint).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NodeManagerError);
    expect((refused as NodeManagerError).code).toBe("host-key-refused");
    expect((refused as Error).message).toContain(`${userKnownHosts} line 2`);
    expect(existsSync(store.knownHostsPath)).toBe(false);
    // Trusted by the app's own file wins over a stale line in the user's file.
    await writeFile(store.knownHostsPath, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    expect((await manager.connect("lab")).state).toBe("ready");
  });

  it("refuses a key marked @revoked and will not trust it", async () => {
    const userKnownHosts = join(dir, "revoked_known_hosts");
    await writeFile(userKnownHosts, `@revoked * ${sshd.hostPublicKey}\n[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const { manager } = await newManager({ userKnownHosts });
    await manager.add(labNode());
    const status = await manager.connect("lab");
    expect(status).toMatchObject({ state: "failed", hostKey: { verdict: "revoked", fingerprint: sshd.hostKeyFingerprint, knownAt: [{ file: userKnownHosts, line: 1 }] } });
    expect(status.detail).toContain(`@revoked in ${userKnownHosts} line 1`);
    await expect(manager.trustHostKey("lab", sshd.hostKeyFingerprint)).rejects.toThrow(/Not trusting/);
  });

  it("fails without a retry loop when the node rejects the key, and retries at once on connect()", async () => {
    const wrongKey = join(dir, "not_authorized");
    await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrongKey]);
    const { manager, events } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    await manager.add(labNode({ auth: { kind: "key", keyPath: wrongKey } }));
    const status = await manager.connect("lab");
    expect(status.state).toBe("failed");
    expect(status.detail).toMatch(/Authentication as .* failed/);
    expect(status.detail).toContain(wrongKey);
    expect(status.retryAt).toBeUndefined();
    // Longer than the largest backoff (1 s here): no automatic attempt may follow.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(statesOf(events)).toEqual(["disconnected", "connecting", "failed"]);
    const again = manager.connect("lab");
    expect(manager.status("lab")?.state).toBe("connecting");
    expect((await again).state).toBe("failed");
  });

  it("fails, naming the file, when the key file is missing", async () => {
    const { manager } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    const missing = join(dir, "no_such_key");
    await manager.add(labNode({ auth: { kind: "key", keyPath: missing } }));
    const status = await manager.connect("lab");
    expect(status.state).toBe("failed");
    expect(status.detail).toContain(missing);
  });

  it("backs off while a node is unreachable and session() gives up after its timeout", async () => {
    const { manager } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    const port = await freePort();
    await manager.add(labNode({ id: "dead", port }));
    const status = await manager.connect("dead");
    expect(status.state).toBe("backing-off");
    expect(status.attempt).toBe(1);
    expect(status.retryAt).toBeGreaterThanOrEqual(status.since);
    expect(status.detail).toMatch(/ECONNREFUSED/);
    await waitForState(manager, "dead", "backing-off", 20_000, (s) => (s.attempt ?? 0) >= 3);
    await expect(manager.session("dead", 300)).rejects.toThrow(/not ready/);
  });

  it("notices a node going away, backs off, and reconnects when it is back", async () => {
    const { manager } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    await manager.add(labNode());
    expect((await manager.connect("lab")).state).toBe("ready");

    await stopSshdCompletely();
    const lost = await waitForState(manager, "lab", "backing-off");
    expect(lost.detail).toMatch(/lost/);
    expect(lost.retryAt).toBeGreaterThanOrEqual(lost.since);
    // While sshd is down the retries keep failing and keep backing off.
    await waitForState(manager, "lab", "backing-off", 20_000, (s) => (s.attempt ?? 0) >= 2);

    sshdProc = await restartSshd();
    await waitForState(manager, "lab", "ready");
    const session = await manager.session("lab");
    const sftp = await session.sftp();
    sftp.end();
  });

  it("notices a node that stops answering (keepalive) while its TCP connection stays open", async () => {
    const { manager } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    await manager.add(labNode());
    expect((await manager.connect("lab")).state).toBe("ready");
    const pid = sshdProc.child.pid;
    // The per-connection sshd processes: frozen, they keep the socket open but never reply.
    const frozen = pid ? await descendantsOf(pid) : [];
    expect(frozen.length).toBeGreaterThan(0);
    for (const p of frozen) process.kill(p, "SIGSTOP");
    try {
      const lost = await waitForState(manager, "lab", "backing-off", 30_000);
      expect(lost.detail).toMatch(/Keepalive timeout/);
    } finally {
      for (const p of frozen) {
        try {
          process.kill(p, "SIGTERM");
          process.kill(p, "SIGCONT");
        } catch {
          // already gone
        }
      }
    }
    await waitForState(manager, "lab", "ready");
  });

  it("keeps a node's disk-path allow-list in nodes.json, refuses / and system directories, and clears it", async () => {
    const { manager, store, dataDir } = await newManager();
    await manager.add(labNode());
    expect((await manager.setDiskPathAllow("lab", ["/srv/images", "/dev/vg1/data"])).diskPathAllow).toEqual(["/srv/images", "/dev/vg1/data"]);
    const saved = JSON.parse(await readFile(store.nodesPath, "utf8")) as { nodes: { diskPathAllow?: string[] }[] };
    expect(saved.nodes[0]?.diskPathAllow).toEqual(["/srv/images", "/dev/vg1/data"]);
    await expect(manager.setDiskPathAllow("lab", ["/"])).rejects.toThrow(/would allow every path/);
    await expect(manager.setDiskPathAllow("lab", ["/etc/ganeti"])).rejects.toThrow(/inside \/etc, one of the node's system directories/);
    expect(manager.list()[0]?.diskPathAllow).toEqual(["/srv/images", "/dev/vg1/data"]);
    // A new manager on the same settings reads it back; an empty list clears it.
    const again = await NodeManager.open({ store: new SettingsStore({ dataDir, userKnownHostsPath: join(dataDir, "none") }) });
    managers.push(again);
    expect(again.list()[0]?.diskPathAllow).toEqual(["/srv/images", "/dev/vg1/data"]);
    expect((await again.setDiskPathAllow("lab", [])).diskPathAllow).toBeUndefined();
  });

  it("dispose closes connections and clears retry timers", async () => {
    const { manager, events } = await newManager({ userKnownHosts: sshd.knownHostsPath, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await manager.add(labNode());
    await manager.add(labNode({ id: "dead", port: await freePort() }));
    expect((await manager.connect("lab")).state).toBe("ready");
    expect((await manager.connect("dead")).state).toBe("backing-off");
    // Caught now: it rejects during dispose(), before the assertion below looks at it.
    const pendingWait = manager.session("dead", 60_000).catch((e: unknown) => e);
    const count = (what: string) => process.getActiveResourcesInfo().filter((r) => r === what).length;
    const timersBefore = count("Timeout");
    const socketsBefore = count("TCPSocketWrap");

    await manager.dispose();
    expect(String(await pendingWait)).toMatch(/shut down/);
    // The 60 s retry timer, the session() wait timer and ssh2's keepalive interval are gone.
    expect(count("Timeout")).toBeLessThanOrEqual(timersBefore - 3);
    expect(count("TCPSocketWrap")).toBeLessThan(socketsBefore);
    const seen = events.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(events.length).toBe(seen);
    await expect(manager.connect("lab")).rejects.toThrow(/shut down/);
    await expect(manager.session("lab")).rejects.toThrow(/shut down/);
  });
});

describe("an encrypted key file against the lab sshd", () => {
  const PASSPHRASE = "lab-passphrase-Ω-7f3c";
  let encKey: string;

  beforeAll(async () => {
    encKey = join(dir, "encrypted_client_key");
    await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "hotplug-desk-lab-encrypted", "-f", encKey]);
    // sshd reads AuthorizedKeysFile at every authentication: appending is enough.
    await appendFile(join(sshdDir, "authorized_keys"), await readFile(`${encKey}.pub`));
  });

  async function managerWith(passphrases: PassphraseStore) {
    const dataDir = join(dir, `data-${++counter}`);
    await mkdir(dataDir, { recursive: true });
    const store = new SettingsStore({ dataDir, userKnownHostsPath: sshd.knownHostsPath });
    const manager = await NodeManager.open({ store, passphrases, backoff: { initialMs: 200, maxMs: 1_000 }, keepaliveIntervalMs: 1_000, readyTimeoutMs: 10_000 });
    managers.push(manager);
    const events: NodeManagerEvent[] = [];
    manager.subscribe((e) => events.push(e));
    return { manager, dataDir, events };
  }

  it("asks for the passphrase, says a wrong one was wrong, connects with the right one, and never shows it", async () => {
    const passphrases = new PassphraseStore();
    const { manager, dataDir, events } = await managerWith(passphrases);
    await manager.add(labNode({ auth: { kind: "key", keyPath: encKey } }));

    const asked = await manager.connect("lab");
    expect(asked).toMatchObject({ state: "failed", needs: "passphrase" });
    expect(asked.detail).toContain(`The key file ${encKey}`);
    expect(asked.detail).toMatch(/is encrypted: enter its passphrase \(or load it into ssh-agent/);
    expect(asked.retryAt).toBeUndefined();
    await expect(manager.session("lab")).rejects.toThrow(/encrypted/);
    expect(await manager.checkKeyPassphrase("lab")).toEqual({ encrypted: true });

    await passphrases.set("lab", "not-the-passphrase", { remember: false });
    expect(await manager.checkKeyPassphrase("lab", "not-the-passphrase")).toEqual({ encrypted: true, opens: false });
    const wrong = await manager.reconnect("lab");
    expect(wrong).toMatchObject({ state: "failed", needs: "passphrase" });
    expect(wrong.detail).toMatch(/passphrase for the key file .* was wrong/);
    // A wrong passphrase is dropped, so the next attempt asks again.
    expect(passphrases.knows("lab")).toBe(false);
    expect(await manager.connect("lab")).toMatchObject({ state: "failed", needs: "passphrase" });
    expect((await manager.connect("lab")).detail).toMatch(/is encrypted/);

    await passphrases.set("lab", PASSPHRASE, { remember: false });
    expect(await manager.checkKeyPassphrase("lab", PASSPHRASE)).toEqual({ encrypted: true, opens: true });
    const ready = await manager.reconnect("lab");
    expect(ready.state).toBe("ready");
    expect(ready.needs).toBeUndefined();
    const sftp = await (await manager.session("lab")).sftp();
    sftp.end();
    expect(statesOf(events)).toEqual(["disconnected", "connecting", "failed", "connecting", "failed", "connecting", "failed", "connecting", "failed", "connecting", "ready"]);

    // Nothing the manager said or wrote holds the passphrase (or the wrong one).
    const said = JSON.stringify([events, manager.statuses(), manager.list()]);
    expect(said).not.toContain(PASSPHRASE);
    expect(said).not.toContain("not-the-passphrase");
    expect(await readFile(join(dataDir, "nodes.json"), "utf8")).not.toContain(PASSPHRASE);
  });

  it("an unknown host key of a node whose key file is encrypted can be trusted once the passphrase is given", async () => {
    // Nothing trusts the lab's host key here: the app's known_hosts is empty and the user's is absent.
    const dataDir = join(dir, `data-${++counter}`);
    await mkdir(dataDir, { recursive: true });
    const store = new SettingsStore({ dataDir, userKnownHostsPath: join(dir, "no-user-known-hosts") });
    const passphrases = new PassphraseStore();
    const manager = await NodeManager.open({ store, passphrases, backoff: { initialMs: 200, maxMs: 1_000 }, keepaliveIntervalMs: 1_000, readyTimeoutMs: 10_000 });
    managers.push(manager);
    await manager.add(labNode({ auth: { kind: "key", keyPath: encKey } }));
    expect(await manager.connect("lab")).toMatchObject({ state: "failed", needs: "passphrase" });
    await passphrases.set("lab", PASSPHRASE, { remember: false });
    expect(await manager.reconnect("lab")).toMatchObject({ state: "failed", hostKey: { verdict: "unknown", fingerprint: sshd.hostKeyFingerprint } });
    // Fetching the key to compare needs no authentication, so the encrypted key file is not in the way.
    await manager.trustHostKey("lab", sshd.hostKeyFingerprint);
    await waitForState(manager, "lab", "ready");
    expect(await readFile(store.knownHostsPath, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  });

  it("a memory-only store forgets the passphrase: a new manager asks again", async () => {
    const first = new PassphraseStore();
    const a = await managerWith(first);
    await a.manager.add(labNode({ auth: { kind: "key", keyPath: encKey } }));
    await first.set("lab", PASSPHRASE, { remember: true });
    expect((await a.manager.connect("lab")).state).toBe("ready");
    await a.manager.dispose();
    first.clear();

    const b = await managerWith(new PassphraseStore());
    await b.manager.add(labNode({ auth: { kind: "key", keyPath: encKey } }));
    expect(await b.manager.connect("lab")).toMatchObject({ state: "failed", needs: "passphrase" });
  });

  it("without a passphrase provider the node fails with needs: passphrase instead of the old 'use ssh-agent' error", async () => {
    const { manager } = await newManager({ userKnownHosts: sshd.knownHostsPath });
    await manager.add(labNode({ auth: { kind: "key", keyPath: encKey } }));
    expect(await manager.connect("lab")).toMatchObject({ state: "failed", needs: "passphrase" });
    // A key without a passphrase is not asked about.
    await manager.add(labNode({ id: "plain" }));
    expect(await manager.checkKeyPassphrase("plain")).toEqual({ encrypted: false });
    expect((await manager.connect("plain")).needs).toBeUndefined();
  });

  it("through the app API: set, wrong, right, remember where no keychain exists, forget, remove; the passphrase is in no response, event, activity entry or file", async () => {
    const dataDir = join(dir, `app-${++counter}`);
    const app = await composeApp({
      dataDir,
      transport: "web",
      version: "test",
      userKnownHostsPath: sshd.knownHostsPath,
      watchIntervalMs: 0,
    });
    const emitted: unknown[] = [];
    const off = app.bus.subscribe((event, payload) => emitted.push({ event, payload }));
    const responses: unknown[] = [];
    const call = async (channel: string, request: unknown) => {
      try {
        const r = await app.dispatcher.call(channel, request);
        responses.push(r);
        return r;
      } catch (err) {
        responses.push(toWireError(err));
        throw err;
      }
    };
    try {
      const info = (await call("app.info", {})) as AppInfo;
      expect(info.secretStorage).toEqual({ available: false, reason: MEMORY_ONLY_REASON });
      expect(MEMORY_ONLY_REASON).toContain("remembered until the app quits");

      await call("nodes.add", { host: `${sshd.user}@127.0.0.1:${sshd.port}`, keyPath: encKey, id: "enc", name: "Encrypted" });
      const asked = await app.nodes.connect("enc");
      expect(asked).toMatchObject({ state: "failed", needs: "passphrase" });

      // Validated before anything runs; the refusal does not echo the value.
      await expect(call("nodes.setPassphrase", { nodeId: "enc", passphrase: "", remember: false })).rejects.toThrow(/Invalid request/);
      await expect(call("nodes.setPassphrase", { nodeId: "enc", passphrase: `${PASSPHRASE}${"x".repeat(1024)}`, remember: false })).rejects.toThrow(/Invalid request/);
      await expect(call("nodes.add", { host: "127.0.0.2", keyPath: encKey, passphrase: PASSPHRASE })).rejects.toThrow(/secrets are never stored/);

      const wrong = SetPassphraseResponseSchema.parse(await call("nodes.setPassphrase", { nodeId: "enc", passphrase: "wrong-one", remember: true }));
      expect(wrong.status).toMatchObject({ state: "failed", needs: "passphrase" });
      expect(wrong.status.detail).toMatch(/was wrong/);
      expect(wrong.remembered).toBe(false);

      const right = SetPassphraseResponseSchema.parse(await call("nodes.setPassphrase", { nodeId: "enc", passphrase: PASSPHRASE, remember: true }));
      expect(right.status.state).toBe("ready");
      expect(right.remembered).toBe(false);
      expect(right.rememberReason).toBe(MEMORY_ONLY_REASON);
      const entries = app.activity.list({ nodeId: "enc" });
      expect(entries[0]?.summary).toMatch(/kept until the app quits \(not remembered: .*remembered until the app quits/);

      // Not encrypted, or ssh-agent: nothing to enter.
      await call("nodes.add", { host: `${sshd.user}@127.0.0.1:${sshd.port}`, keyPath: sshd.privateKeyPath, id: "plain" });
      await expect(call("nodes.setPassphrase", { nodeId: "plain", passphrase: PASSPHRASE, remember: false })).rejects.toThrow(/has no passphrase/);

      await call("nodes.forgetPassphrase", { nodeId: "enc" });
      expect(app.passphrases.knows("enc")).toBe(false);
      await call("nodes.setPassphrase", { nodeId: "enc", passphrase: PASSPHRASE, remember: false });
      expect(app.passphrases.knows("enc")).toBe(true);
      await call("nodes.remove", { nodeId: "enc" });
      expect(app.passphrases.knows("enc")).toBe(false);

      await new Promise((r) => setTimeout(r, 100));
      const everything = JSON.stringify([emitted, responses, app.activity.list(), app.nodes.statuses()]);
      expect(everything).toContain("needs");
      expect(everything).not.toContain(PASSPHRASE);
      expect(everything).not.toContain("wrong-one");
      for (const name of await readdir(dataDir)) {
        const path = join(dataDir, name);
        if ((await stat(path)).isFile()) expect(await readFile(path, "utf8"), name).not.toContain(PASSPHRASE);
      }
    } finally {
      off();
      await app.dispose();
    }
  });
  it("with a keychain: only a passphrase that opens the key is remembered, and the next run connects without asking", async () => {
    const dataDir = join(dir, `app-${++counter}`);
    // The OS keychain behind safeStorage cannot be driven here: a stand-in with its own AES key.
    const keychain = new FakeKeychainSafeStorage();
    const start = () =>
      composeApp({
        dataDir,
        transport: "electron",
        version: "test",
        userKnownHostsPath: sshd.knownHostsPath,
        watchIntervalMs: 0,
        secretBackend: new SecretStore(dataDir, keychain, "linux"),
      });
    const first = await start();
    try {
      expect(((await first.dispatcher.call("app.info", {})) as AppInfo).secretStorage).toEqual({ available: true });
      await first.dispatcher.call("nodes.add", { host: `${sshd.user}@127.0.0.1:${sshd.port}`, keyPath: encKey, id: "enc" });
      const wrong = SetPassphraseResponseSchema.parse(await first.dispatcher.call("nodes.setPassphrase", { nodeId: "enc", passphrase: "wrong-one", remember: true }));
      expect(wrong).toMatchObject({ remembered: false, status: { needs: "passphrase" } });
      expect(existsSync(join(dataDir, SECRETS_FILE))).toBe(false);
      const right = SetPassphraseResponseSchema.parse(await first.dispatcher.call("nodes.setPassphrase", { nodeId: "enc", passphrase: PASSPHRASE, remember: true }));
      expect(right).toMatchObject({ remembered: true, status: { state: "ready" } });
      expect(first.activity.list({ nodeId: "enc" })[0]?.summary).toMatch(/remembered in the system keychain/);
      expect(await readFile(join(dataDir, SECRETS_FILE), "utf8")).not.toContain(PASSPHRASE);
    } finally {
      await first.dispose();
    }

    const second = await start();
    try {
      // composeApp connects saved nodes at start; the keychain supplies the passphrase.
      await waitForState(second.nodes, "enc", "ready");
      await second.dispatcher.call("nodes.forgetPassphrase", { nodeId: "enc" });
      expect(JSON.parse(await readFile(join(dataDir, SECRETS_FILE), "utf8"))).toEqual({});
    } finally {
      await second.dispose();
    }

    const third = await start();
    try {
      await waitForState(third.nodes, "enc", "failed", 20_000, (s) => s.needs === "passphrase");
      // Linux without a secret service: remembering is refused, the passphrase still works for this run.
      keychain.backend = "basic_text";
      const r = SetPassphraseResponseSchema.parse(await third.dispatcher.call("nodes.setPassphrase", { nodeId: "enc", passphrase: PASSPHRASE, remember: true }));
      expect(r).toMatchObject({ remembered: false, status: { state: "ready" } });
      expect(r.rememberReason).toMatch(/No secret service/);
      expect(JSON.parse(await readFile(join(dataDir, SECRETS_FILE), "utf8"))).toEqual({});
    } finally {
      await third.dispose();
    }
  });
});
