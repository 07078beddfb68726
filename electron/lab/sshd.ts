// A real OpenSSH sshd on 127.0.0.1, run as a plain process with its own
// host key and one authorized client key. Nothing outside its directory is
// written, except the privilege-separation dir that sshd insists on as root.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile, chmod } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { userInfo } from "node:os";
import { runCommand, startProcess, stopProcess, waitFor, type LabProcess } from "./processes.js";
import type { NodeTarget } from "../ssh/session.js";

export interface SshdInfo {
  host: string;
  port: number;
  user: string;
  /** Private key file the client authenticates with (no passphrase). */
  privateKeyPath: string;
  /** OpenSSH known_hosts file that trusts exactly this sshd's host key. */
  knownHostsPath: string;
  /** "SHA256:..." as `ssh-keygen -l` prints it. */
  hostKeyFingerprint: string;
  /** The host key line, "ssh-ed25519 AAAA...". */
  hostPublicKey: string;
}

export interface HostKeyInfo {
  /** "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256". */
  type: string;
  /** The host key line, "<type> AAAA...". */
  publicKey: string;
  /** "SHA256:..." as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

export interface SshdOptions {
  /** Host keys to give sshd, in order (default ed25519 only); the first is hostPublicKey. */
  hostKeyTypes?: readonly ("ed25519" | "rsa" | "ecdsa")[];
  /** More sshd_config lines (e.g. HostKeyAlgorithms, MACs) for tests of what a client accepts. */
  extraConfig?: readonly string[];
  /** A command sshd is run under (its argv is appended); it must exec sshd, e.g. unshare into a mount namespace. */
  launcher?: readonly string[];
}

export interface RunningSshd extends SshdInfo {
  /** Every host key sshd has (the first is hostPublicKey). */
  hostKeys: HostKeyInfo[];
  process: LabProcess;
  stop(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function keygen(path: string, comment: string, type: "ed25519" | "rsa" | "ecdsa" = "ed25519"): Promise<void> {
  await runCommand("ssh-keygen", ["-q", "-t", type, ...(type === "rsa" ? ["-b", "3072"] : []), "-N", "", "-C", comment, "-f", path]);
}

async function hostKeyInfo(path: string): Promise<HostKeyInfo> {
  const publicKey = (await readFile(`${path}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
  // OpenSSH's SHA256 fingerprint, computed here: a child's output read at its exit could come back empty.
  const blob = Buffer.from(publicKey.split(" ")[1] ?? "", "base64");
  const fingerprint = `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
  return { type: publicKey.split(" ")[0] ?? "", publicKey, fingerprint };
}

export async function startSshd(dir: string, opts: SshdOptions = {}): Promise<RunningSshd> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: install it with "apt-get install openssh-server".`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const hostKeyPaths = (opts.hostKeyTypes ?? ["ed25519"]).map((t) => ({ t, path: join(dir, `host_${t}`) }));
  const clientKey = join(dir, "client_ed25519");
  for (const k of hostKeyPaths) await keygen(k.path, "hotplug-desk-lab-host", k.t);
  await keygen(clientKey, "hotplug-desk-lab-client");
  const authorized = join(dir, "authorized_keys");
  await writeFile(authorized, await readFile(`${clientKey}.pub`), { mode: 0o600 });

  if (process.getuid?.() === 0 && !existsSync("/run/sshd")) {
    // sshd refuses to start as root without its privilege-separation dir.
    await mkdir("/run/sshd", { mode: 0o755 });
  }

  const hostKeys = await Promise.all(hostKeyPaths.map((k) => hostKeyInfo(k.path)));
  const hostPublicKey = hostKeys[0]?.publicKey ?? "";
  const fp = hostKeys[0]?.fingerprint ?? "";
  const user = userInfo().username;

  // Ports can be taken between choosing and binding: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = join(dir, "sshd_config");
    await writeFile(
      config,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        ...hostKeyPaths.map((k) => `HostKey ${k.path}`),
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${authorized}`,
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",
        "AllowStreamLocalForwarding local",
        // sshd only lets streamlocal channels through when local TCP forwarding is allowed too.
        "AllowTcpForwarding local",
        "X11Forwarding no",
        "PermitUserEnvironment no",
        "Subsystem sftp internal-sftp",
        "MaxSessions 64",
        "MaxStartups 64:30:128",
        "ClientAliveInterval 0",
        "LogLevel VERBOSE",
        ...(opts.extraConfig ?? []),
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    await runCommand(SSHD, ["-t", "-f", config]);
    const [file, ...pre] = [...(opts.launcher ?? []), SSHD];
    const proc = startProcess("sshd", file!, [...pre, "-D", "-e", "-f", config]);
    const up = await Promise.race([
      waitFor(`sshd on 127.0.0.1:${port}`, async () => ((await portAccepts(port)) ? true : undefined), 10_000).then(() => true),
      proc.exited.then(() => false),
    ]);
    if (!up) {
      if (/Address already in use/.test(proc.output())) continue;
      throw new Error(`sshd did not start: ${proc.output().trim()}`);
    }
    const knownHostsPath = join(dir, "known_hosts");
    await writeFile(knownHostsPath, `[127.0.0.1]:${port} ${hostPublicKey}\n`, { mode: 0o600 });
    await chmod(clientKey, 0o600);
    return {
      host: "127.0.0.1",
      port,
      user,
      privateKeyPath: clientKey,
      knownHostsPath,
      hostKeyFingerprint: fp,
      hostPublicKey,
      hostKeys,
      process: proc,
      stop: () => stopProcess(proc),
    };
  }
  throw new Error("sshd could not bind a free port on 127.0.0.1 after 5 attempts");
}

/** How a NodeSession reaches this sshd (also a LabNode's info, which extends SshdInfo). */
export function sessionTarget(info: SshdInfo): NodeTarget {
  return { host: info.host, port: info.port, username: info.user, privateKeyPath: info.privateKeyPath, knownHostsPath: info.knownHostsPath };
}
