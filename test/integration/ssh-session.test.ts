// NodeSession against the lab's real OpenSSH sshd: host keys are verified
// against known_hosts before anything else, and UNIX sockets on the node are
// reachable through the connection.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, rm, writeFile, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { runCommand } from "../../electron/lab/processes.js";
import { HostKeyError, NodeSession } from "../../electron/ssh/session.js";

let dir: string;
let sshd: RunningSshd;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdssh-"));
  sshd = await startSshd(join(dir, "ssh"));
});

afterAll(async () => {
  await sshd?.stop();
  await rm(dir, { recursive: true, force: true });
});

const target = () => ({
  host: sshd.host,
  port: sshd.port,
  username: sshd.user,
  privateKeyPath: sshd.privateKeyPath,
  knownHostsPath: sshd.knownHostsPath,
});

describe("SSH session to the lab sshd", () => {
  it("hands out a fingerprint that matches the key sshd presents", async () => {
    expect(sshd.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const scanned = await runCommand("ssh-keyscan", ["-p", String(sshd.port), "-t", "ed25519", "127.0.0.1"]);
    expect(scanned).toContain(sshd.hostPublicKey.split(" ")[1]);
  });

  it("connects when known_hosts trusts the host key", async () => {
    const s = await NodeSession.open(target());
    expect(s.label).toBe(`${sshd.user}@127.0.0.1:${sshd.port}`);
    s.close();
  });

  it("refuses an unknown host key and names its fingerprint", async () => {
    const empty = join(dir, "empty_known_hosts");
    await writeFile(empty, "");
    const err = await NodeSession.open({ ...target(), knownHostsPath: empty }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).verdict.kind).toBe("unknown");
    expect((err as Error).message).toContain(sshd.hostKeyFingerprint);
  });

  it("refuses a changed host key and shows old and new fingerprints", async () => {
    const otherKey = join(dir, "other_key");
    await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey]);
    const otherPub = (await readFile(`${otherKey}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
    const otherFp = (await runCommand("ssh-keygen", ["-l", "-E", "sha256", "-f", `${otherKey}.pub`])).split(/\s+/)[1];
    const wrong = join(dir, "wrong_known_hosts");
    await writeFile(wrong, `[127.0.0.1]:${sshd.port} ${otherPub}\n`);
    const err = await NodeSession.open({ ...target(), knownHostsPath: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    const msg = (err as Error).message;
    expect(msg).toContain("CHANGED");
    expect(msg).toContain(sshd.hostKeyFingerprint);
    expect(msg).toContain(otherFp);
  });

  it("accepts a hashed known_hosts entry (ssh-keygen -H)", async () => {
    const hashed = join(dir, "hashed_known_hosts");
    await writeFile(hashed, await readFile(sshd.knownHostsPath));
    await runCommand("ssh-keygen", ["-H", "-f", hashed]);
    expect(await readFile(hashed, "utf8")).toMatch(/^\|1\|/);
    const s = await NodeSession.open({ ...target(), knownHostsPath: hashed });
    s.close();
  });

  it("reaches a UNIX socket on the node through streamlocal forwarding", async () => {
    const sock = join(dir, "echo.sock");
    const server: Server = createServer((c) => c.pipe(c));
    await new Promise<void>((r) => server.listen(sock, r));
    const s = await NodeSession.open(target());
    try {
      const stream = await s.openUnixSocket(sock);
      const echoed = await new Promise<string>((resolve) => {
        stream.once("data", (d: Buffer) => resolve(d.toString()));
        stream.write("hello through the tunnel");
      });
      expect(echoed).toBe("hello through the tunnel");
      stream.destroy();
      await expect(s.openUnixSocket(join(dir, "missing.sock"))).rejects.toThrow(/missing\.sock/);
    } finally {
      s.close();
      server.close();
    }
  });
});
