// What the app accepts from a node's sshd, against real OpenSSH sshds:
// - a host key of another type than the one known_hosts holds for the host
//   is a changed key (refused, both fingerprints, the file and line to fix),
//   never the first-connection prompt;
// - a node that still has its known key is asked for it first, so a second
//   key of another type does not make it look changed;
// - ssh-rsa (SHA-1) host-key signatures and hmac-sha1 are refused, with a
//   message that says which algorithm the node lacks.
import { describe, it, expect, beforeAll, afterAll, afterEach } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { HostKeyError, NodeSession, type NodeTarget } from "../../electron/ssh/session.js";
import { NodeManager } from "../../electron/node-registry/node-manager.js";
import { SettingsStore } from "../../electron/node-registry/settings-store.js";

let dir: string;
/** Host keys ed25519 and rsa; offers only rsa-sha2-* (as a node that lost or hides its ed25519 key). */
let rsaOnly: RunningSshd;
/** Host keys ed25519 and rsa, both offered. */
let both: RunningSshd;
const managers: NodeManager[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdkeypolicy-"));
  [rsaOnly, both] = await Promise.all([
    startSshd(join(dir, "rsa-only"), { hostKeyTypes: ["ed25519", "rsa"], extraConfig: ["HostKeyAlgorithms rsa-sha2-512,rsa-sha2-256"] }),
    startSshd(join(dir, "both"), { hostKeyTypes: ["ed25519", "rsa"] }),
  ]);
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.dispose()));
});

afterAll(async () => {
  await Promise.all([rsaOnly?.stop(), both?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const key = (s: RunningSshd, type: string) => {
  const k = s.hostKeys.find((h) => h.type === type);
  if (!k) throw new Error(`no ${type} host key`);
  return k;
};

async function knownHosts(name: string, s: RunningSshd, types: string[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, ["# known", ...types.map((t) => `[127.0.0.1]:${s.port} ${key(s, t).publicKey}`), ""].join("\n"));
  return path;
}

const target = (s: RunningSshd, knownHostsPath: string): NodeTarget => ({ host: s.host, port: s.port, username: s.user, privateKeyPath: s.privateKeyPath, knownHostsPath });

async function openOrError(t: NodeTarget): Promise<NodeSession | Error> {
  try {
    return await NodeSession.open(t);
  } catch (err) {
    return err as Error;
  }
}

describe("a host key of another type than the known one", () => {
  it("is refused as a changed key, with both fingerprints and the file and line", async () => {
    const path = await knownHosts("kh-ed25519", rsaOnly, ["ssh-ed25519"]);
    const err = await openOrError(target(rsaOnly, path));
    expect(err).toBeInstanceOf(HostKeyError);
    const v = (err as HostKeyError).verdict;
    expect(v).toMatchObject({ kind: "changed", fingerprint: key(rsaOnly, "ssh-rsa").fingerprint, keyType: "ssh-rsa", knownFingerprints: [key(rsaOnly, "ssh-ed25519").fingerprint], knownKeyTypes: ["ssh-ed25519"], lines: [2] });
    const msg = (err as Error).message;
    expect(msg).toContain("CHANGED");
    expect(msg).toContain(key(rsaOnly, "ssh-rsa").fingerprint);
    expect(msg).toContain(key(rsaOnly, "ssh-ed25519").fingerprint);
    expect(msg).toContain(`${path} (line 2)`);
  });

  it("reaches the node manager as 'changed' (no trust prompt), naming the file and line, and cannot be trusted", async () => {
    const userKnownHosts = await knownHosts("kh-user-ed25519", rsaOnly, ["ssh-ed25519"]);
    const store = new SettingsStore({ dataDir: await mkdtemp(join(dir, "data-")), userKnownHostsPath: userKnownHosts });
    const manager = await NodeManager.open({ store, backoff: { initialMs: 60_000 } });
    managers.push(manager);
    await manager.add({ id: "n", name: "n", host: rsaOnly.host, port: rsaOnly.port, user: rsaOnly.user, auth: { kind: "key", keyPath: rsaOnly.privateKeyPath }, root: "/" });
    const status = await manager.connect("n");
    expect(status.state).toBe("failed");
    expect(status.hostKey).toMatchObject({ verdict: "changed", keyType: "ssh-rsa", knownKeyTypes: ["ssh-ed25519"], knownAt: [{ file: userKnownHosts, line: 2 }] });
    expect(status.detail).toContain(`${userKnownHosts} line 2`);
    expect(status.detail).toContain(`ssh-ed25519 ${key(rsaOnly, "ssh-ed25519").fingerprint}`);
    expect(status.detail).toContain(`ssh-rsa ${key(rsaOnly, "ssh-rsa").fingerprint}`);
    await expect(manager.trustHostKey("n", key(rsaOnly, "ssh-rsa").fingerprint)).rejects.toThrow(/Not trusting/);
  });

  it("connects when known_hosts has the key the node offers", async () => {
    const s = await openOrError(target(rsaOnly, await knownHosts("kh-rsa", rsaOnly, ["ssh-rsa"])));
    expect(s).toBeInstanceOf(NodeSession);
    (s as NodeSession).close();
  });

  it("a node with both keys is asked for the known type first, whichever it is", async () => {
    for (const known of ["ssh-rsa", "ssh-ed25519"]) {
      const s = await openOrError(target(both, await knownHosts(`kh-both-${known}`, both, [known])));
      expect(s, `known: ${known}`).toBeInstanceOf(NodeSession);
      (s as NodeSession).close();
    }
  });
});

describe("SHA-1 algorithms", () => {
  let sha1HostKey: RunningSshd;
  let sha1Mac: RunningSshd;

  beforeAll(async () => {
    [sha1HostKey, sha1Mac] = await Promise.all([
      startSshd(join(dir, "ssh-rsa"), { hostKeyTypes: ["rsa"], extraConfig: ["HostKeyAlgorithms ssh-rsa"] }),
      startSshd(join(dir, "hmac-sha1"), { extraConfig: ["Ciphers aes128-ctr", "MACs hmac-sha1"] }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([sha1HostKey?.stop(), sha1Mac?.stop()]);
  });

  it("a node that signs its host key only with ssh-rsa (SHA-1) is refused, saying why", async () => {
    const err = await openOrError(target(sha1HostKey, await knownHosts("kh-sha1", sha1HostKey, ["ssh-rsa"])));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(NodeSession);
    expect((err as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${sha1HostKey.port} offers no SSH algorithm this app accepts for a host-key algorithm`));
    expect((err as Error).message).toContain("not ssh-rsa with SHA-1 signatures");
  });

  it("the node manager stops there (a retry cannot help) and says why", async () => {
    const store = new SettingsStore({ dataDir: await mkdtemp(join(dir, "data-")), userKnownHostsPath: await knownHosts("kh-sha1-user", sha1HostKey, ["ssh-rsa"]) });
    const manager = await NodeManager.open({ store });
    managers.push(manager);
    await manager.add({ id: "old", name: "old", host: sha1HostKey.host, port: sha1HostKey.port, user: sha1HostKey.user, auth: { kind: "key", keyPath: sha1HostKey.privateKeyPath }, root: "/" });
    const status = await manager.connect("old");
    expect(status.state).toBe("failed");
    expect(status.detail).toMatch(/offers no SSH algorithm this app accepts for a host-key algorithm/);
  });

  it("a node that offers only hmac-sha1 is refused, saying why", async () => {
    const err = await openOrError(target(sha1Mac, sha1Mac.knownHostsPath));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(NodeSession);
    expect((err as Error).message).toMatch(/offers no SSH algorithm this app accepts for a MAC .*not hmac-sha1/);
  });
});
