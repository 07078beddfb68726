// Reaching a node behind something, against real OpenSSH sshds on loopback:
// a ProxyCommand (run as an argument vector, its stdio the connection) and a
// ProxyJump through a second sshd acting as the bastion. The final node's
// host key is checked either way: a wrong one is refused even when the
// bastion's is fine, and an unknown bastion key is named as the bastion's.
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { descendantsOf, runCommand, stopProcess } from "../../electron/lab/processes.js";
import { NodeManager } from "../../electron/node-registry/node-manager.js";
import { SettingsStore } from "../../electron/node-registry/settings-store.js";
import type { NodeConfigInput } from "../../shared/node-registry/schema.js";

let dir: string;
let node: RunningSshd;
let bastion: RunningSshd;
const managers: NodeManager[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdproxy-"));
  node = await startSshd(join(dir, "node"));
  bastion = await startSshd(join(dir, "bastion"));
  // The bastion lets the node's client key in too: one key for the whole route, as with an agent.
  await writeFile(join(dir, "bastion", "authorized_keys"), await readFile(`${node.privateKeyPath}.pub`), { mode: 0o600 });
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.dispose()));
});

afterAll(async () => {
  for (const s of [node, bastion]) if (s) await stopProcess(s.process);
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function newManager(knownHostsLines: string[]) {
  const dataDir = join(dir, `data-${++counter}`);
  await mkdir(dataDir, { recursive: true });
  const userKnownHosts = join(dataDir, "user_known_hosts");
  await writeFile(userKnownHosts, knownHostsLines.join("\n") + "\n");
  const store = new SettingsStore({ dataDir, userKnownHostsPath: userKnownHosts });
  const manager = await NodeManager.open({ store, backoff: { initialMs: 200, maxMs: 1_000 }, keepaliveIntervalMs: 1_000, readyTimeoutMs: 10_000 });
  managers.push(manager);
  return { manager, store };
}

const nodeKeyLine = (hostField: string) => `${hostField} ${node.hostPublicKey}`;
const bastionKeyLine = () => `[127.0.0.1]:${bastion.port} ${bastion.hostPublicKey}`;

async function otherKey(): Promise<string> {
  const path = join(dir, `other-${++counter}`);
  await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path]);
  return (await readFile(`${path}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
}

function proxied(extra: Partial<NodeConfigInput>): NodeConfigInput {
  return { id: "behind", name: "Behind", host: "127.0.0.1", port: node.port, user: node.user, auth: { kind: "key", keyPath: node.privateKeyPath }, ...extra };
}

async function listNodeDir(manager: NodeManager): Promise<string[]> {
  const session = await manager.session("behind");
  const sftp = await session.sftp();
  try {
    return await new Promise<string[]>((resolve, reject) => sftp.readdir(join(dir, "node"), (err, list) => (err ? reject(err) : resolve(list.map((e) => e.filename)))));
  } finally {
    sftp.end();
  }
}

describe("ProxyCommand", () => {
  // "behind.example" resolves nowhere: only the command, which ignores %h, reaches the node.
  const command = `socat STDIO TCP:127.0.0.1:%p`;

  it("connects through the command's stdio, checking the key the node presents for the name it was given", async () => {
    const { manager } = await newManager([nodeKeyLine(`[behind.example]:${node.port}`)]);
    await manager.add(proxied({ host: "behind.example", proxyCommand: command }));
    const status = await manager.connect("behind");
    expect(status.state, status.detail).toBe("ready");
    expect(await listNodeDir(manager)).toContain("sshd_config");
    // The command is the connection: it is a child of this process while connected, and gone after.
    const socat = (await descendantsOf(process.pid)).filter((pid) => /socat/.test(readCmdline(pid)));
    expect(socat.length).toBe(1);
    await manager.dispose();
    await expect.poll(() => socat.filter((pid) => readCmdline(pid) !== "").length, { timeout: 5_000 }).toBe(0);
  });

  it("refuses a node whose key is not the one known_hosts trusts, through the proxy too", async () => {
    const { manager } = await newManager([`[behind.example]:${node.port} ${await otherKey()}`]);
    await manager.add(proxied({ host: "behind.example", proxyCommand: command }));
    const status = await manager.connect("behind");
    expect(status.state).toBe("failed");
    expect(status.hostKey?.verdict).toBe("changed");
    expect(status.hostKey?.jumpHost).toBeUndefined();
    expect(status.detail).toMatch(/CHANGED/);
  });

  it("trusts an unknown node key fetched through the command, then connects", async () => {
    const { manager, store } = await newManager([]);
    await manager.add(proxied({ host: "behind.example", proxyCommand: command }));
    const status = await manager.connect("behind");
    expect(status.state).toBe("failed");
    expect(status.hostKey).toMatchObject({ verdict: "unknown", fingerprint: node.hostKeyFingerprint });
    expect(status.hostKey?.jumpHost).toBeUndefined();
    await manager.trustHostKey("behind", node.hostKeyFingerprint);
    expect(await readFile(store.knownHostsPath, "utf8")).toBe(`${nodeKeyLine(`[behind.example]:${node.port}`)}\n`);
    await expect.poll(() => manager.status("behind")?.state, { timeout: 15_000 }).toBe("ready");
  });

  it("says what the command said when it cannot reach the node", async () => {
    const { manager } = await newManager([nodeKeyLine(`[127.0.0.1]:${node.port}`)]);
    await manager.add(proxied({ proxyCommand: "socat STDIO TCP:127.0.0.1:1" }));
    const status = await manager.connect("behind");
    expect(status.state, status.detail).toBe("backing-off");
    expect(status.detail).toMatch(/ProxyCommand socat STDIO TCP:127\.0\.0\.1:1 exited with 1: .*Connection refused/);
  });
});

describe("ProxyJump through a bastion sshd", () => {
  it("connects through the bastion (both host keys trusted), which holds the connection while it lasts", async () => {
    const { manager } = await newManager([nodeKeyLine(`[127.0.0.1]:${node.port}`), bastionKeyLine()]);
    await manager.add(proxied({ proxyJump: `127.0.0.1:${bastion.port}` }));
    const status = await manager.connect("behind");
    expect(status.state, status.detail).toBe("ready");
    expect(await listNodeDir(manager)).toContain("sshd_config");
    expect((await descendantsOf(bastion.process.child.pid!)).length).toBeGreaterThan(0);
    await manager.dispose();
    await expect.poll(async () => (await descendantsOf(bastion.process.child.pid!)).length, { timeout: 5_000 }).toBe(0);
  });

  it("refuses a wrong final-node key even though the bastion's key is fine", async () => {
    const { manager } = await newManager([`[127.0.0.1]:${node.port} ${await otherKey()}`, bastionKeyLine()]);
    await manager.add(proxied({ proxyJump: `127.0.0.1:${bastion.port}` }));
    const status = await manager.connect("behind");
    expect(status.state).toBe("failed");
    expect(status.hostKey?.verdict).toBe("changed");
    expect(status.hostKey?.jumpHost).toBeUndefined();
    expect(status.detail).toMatch(new RegExp(`host key of node "Behind" \\(.*127\\.0\\.0\\.1:${node.port} via 127\\.0\\.0\\.1:${bastion.port}\\) CHANGED`));
  });

  it("trusts an unknown node key behind a trusted bastion as the node's own, fetched through the bastion", async () => {
    const { manager, store } = await newManager([bastionKeyLine()]);
    await manager.add(proxied({ proxyJump: `127.0.0.1:${bastion.port}` }));
    const status = await manager.connect("behind");
    expect(status.hostKey).toMatchObject({ verdict: "unknown", fingerprint: node.hostKeyFingerprint });
    expect(status.hostKey?.jumpHost).toBeUndefined();
    await manager.trustHostKey("behind", node.hostKeyFingerprint);
    expect(await readFile(store.knownHostsPath, "utf8")).toBe(`${nodeKeyLine(`[127.0.0.1]:${node.port}`)}\n`);
    await expect.poll(() => manager.status("behind")?.state, { timeout: 15_000 }).toBe("ready");
  });

  it("names an unknown bastion key as the jump host's, and trusting it writes the bastion's line and connects", async () => {
    const { manager, store } = await newManager([nodeKeyLine(`[127.0.0.1]:${node.port}`)]);
    await manager.add(proxied({ proxyJump: `127.0.0.1:${bastion.port}` }));
    const status = await manager.connect("behind");
    expect(status.state).toBe("failed");
    expect(status.hostKey).toMatchObject({ verdict: "unknown", fingerprint: bastion.hostKeyFingerprint, jumpHost: { host: "127.0.0.1", port: bastion.port } });
    expect(status.detail).toMatch(/the jump host 127\.0\.0\.1:\d+ \(on the way to node "Behind"/);
    await manager.trustHostKey("behind", bastion.hostKeyFingerprint);
    expect(await readFile(store.knownHostsPath, "utf8")).toBe(`${bastionKeyLine()}\n`);
    await expect.poll(() => manager.status("behind")?.state, { timeout: 15_000 }).toBe("ready");
  });
});

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}
