// One SSH connection to a node (ssh2). Host keys are checked against an
// OpenSSH known_hosts file before authentication; an unknown or changed
// key fails the connection with an error that carries the fingerprints.
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from "ssh2";
import { readFile } from "node:fs/promises";
import type { Duplex } from "node:stream";
import { keyTypeOfBlob, knownHostKeyTypes, verifyHostKey, type HostKeyVerdict } from "./known-hosts.js";
import { describeHandshakeFailure, sshAlgorithms } from "./algorithms.js";

export interface NodeTarget {
  host: string;
  port: number;
  username: string;
  /** Private key file; when absent the ssh-agent at SSH_AUTH_SOCK is used. */
  privateKeyPath?: string;
  passphrase?: string;
  knownHostsPath: string;
  /**
   * The known_hosts content to check against instead of reading
   * knownHostsPath (which then only names it in messages): for callers that
   * trust several files at once.
   */
  knownHostsText?: string;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
}

export class HostKeyError extends Error {
  constructor(
    readonly target: string,
    readonly verdict: Exclude<HostKeyVerdict, { kind: "trusted" }>,
    knownHostsPath: string,
  ) {
    super(HostKeyError.describe(target, verdict, knownHostsPath));
    this.name = "HostKeyError";
  }

  private static describe(target: string, v: Exclude<HostKeyVerdict, { kind: "trusted" }>, path: string): string {
    switch (v.kind) {
      case "unknown":
        return `The host key of ${target} (${v.keyType} ${v.fingerprint}) is not in ${path}. Check the fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and trust it explicitly.`;
      case "changed":
        return `The host key of ${target} CHANGED: it now presents ${v.keyType} ${v.fingerprint}, but ${path} (line ${v.lines.join(", ")}) trusts ${v.knownFingerprints.map((f, i) => `${v.knownKeyTypes[i]} ${f}`).join(", ")}. Refusing to connect. If the node was reinstalled, remove the old line and trust the new key.`;
      case "revoked":
        return `The host key of ${target} (${v.fingerprint}) is marked @revoked in ${path} (line ${v.line}). Refusing to connect.`;
    }
  }
}

/** ssh2's connect errors, with the algorithm refusals said for people. */
function describeConnectError(label: string, err: Error): Error {
  const handshake = describeHandshakeFailure(label, err.message);
  if (!handshake) return err;
  const e = new Error(handshake, { cause: err });
  e.name = "SshAlgorithmError";
  return e;
}

/** The connection ended before it was ready (a cut, a node that hung up): nothing was done on the node. */
export class SshConnectClosedError extends Error {
  constructor(label: string, stage: string) {
    super(`The SSH connection to ${label} was closed ${stage}, before it was ready: nothing was done on the node. Check that the node is reachable and its sshd is running, then try again.`);
    this.name = "SshConnectClosedError";
  }
}

/** The SSH connection to the node is gone; anything in flight on it is lost. */
export class SshConnectionLostError extends Error {
  constructor(label: string, detail: string) {
    super(`The SSH connection to ${label} is gone (${detail}). Reconnect to the node and reload the instance.`);
    this.name = "SshConnectionLostError";
  }
}

export class NodeSession {
  private constructor(
    readonly target: NodeTarget,
    readonly client: Client,
  ) {}

  get label(): string {
    return `${this.target.username}@${this.target.host}:${this.target.port}`;
  }

  static async open(target: NodeTarget): Promise<NodeSession> {
    const knownHosts =
      target.knownHostsText ??
      (await readFile(target.knownHostsPath, "utf8").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return "";
        throw err;
      }));
    const label = `${target.host}:${target.port}`;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      // Explicit lists (no SHA-1); the host's known key types first.
      algorithms: sshAlgorithms(knownHostKeyTypes(knownHosts, target.host, target.port)),
      readyTimeout: target.readyTimeoutMs ?? 15_000,
      // Keepalive is off by default in ssh2; without it a dead node never closes.
      keepaliveInterval: target.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: 3,
    };
    if (target.privateKeyPath) {
      config.privateKey = await readFile(target.privateKeyPath);
      if (target.passphrase) config.passphrase = target.passphrase;
    } else if (process.env.SSH_AUTH_SOCK) {
      config.agent = process.env.SSH_AUTH_SOCK;
    } else {
      throw new Error(`No key for ${label}: give a private key file or start an ssh-agent (SSH_AUTH_SOCK is not set).`);
    }
    let rejection: HostKeyError | undefined;
    config.hostVerifier = (key: Buffer) => {
      const verdict = verifyHostKey(knownHosts, target.host, target.port, key, keyTypeOfBlob(key));
      if (verdict.kind === "trusted") return true;
      rejection = new HostKeyError(label, verdict, target.knownHostsPath);
      return false;
    };
    const client = new Client();
    // The connect settles on whatever comes first: ready, an error, or the
    // connection ending or closing at any point of the handshake (ssh2
    // reports a cut there with "close" alone, and a promise that never
    // settles lets a CLI exit 0 with nothing done and nothing said).
    let stage = "before the key exchange";
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        client.destroy();
        reject(rejection ?? err);
      };
      client.once("handshake", () => (stage = "during authentication"));
      client.once("ready", () => {
        if (settled) return;
        settled = true;
        resolve();
      });
      // Stays attached: an error after "ready" is for the session's users (they see "close").
      client.on("error", (err) => fail(describeConnectError(label, err)));
      client.once("end", () => fail(new SshConnectClosedError(label, stage)));
      client.once("close", () => fail(new SshConnectClosedError(label, stage)));
      try {
        client.connect(config);
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    // Requests here are small and wait on their answer; with Nagle's algorithm
    // a write stalls behind an unacknowledged one (delayed ACK, ~40 ms).
    client.setNoDelay(true);
    // ssh2 has what it needs; the session keeps no copy of the passphrase.
    const { passphrase: _passphrase, ...kept } = target;
    return new NodeSession(kept, client);
  }

  /** A stream to a UNIX socket on the node (a QMP or serial socket). */
  openUnixSocket(path: string): Promise<ClientChannel & Duplex> {
    return new Promise((resolve, reject) => {
      try {
        this.client.openssh_forwardOutStreamLocal(path, (err, stream) => {
          if (err) reject(new Error(`Cannot open ${path} on ${this.label}: ${err.message}`));
          else resolve(stream);
        });
      } catch (err) {
        // ssh2 throws "Not connected" at once when the socket is already gone,
        // before its "close" event has been delivered.
        reject(new SshConnectionLostError(this.label, err instanceof Error ? err.message : String(err)));
      }
    });
  }

  sftp(): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp)));
    });
  }

  close(): void {
    this.client.end();
  }
}
