// One SSH connection to a node (ssh2). Host keys are checked against an
// OpenSSH known_hosts file before authentication; an unknown or changed
// key fails the connection with an error that carries the fingerprints.
// A node behind a ProxyCommand or jump hosts is reached through ./proxy.ts;
// its own host key is still the one checked for it.
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from "ssh2";
import { readFile } from "node:fs/promises";
import type { Duplex } from "node:stream";
import { keyTypeOfBlob, knownHostKeyTypes, verifyHostKey, type HostKeyVerdict } from "./known-hosts.js";
import { describeHandshakeFailure, sshAlgorithms } from "./algorithms.js";
import { openTransport, type HostCheck } from "./proxy.js";
import { parseProxyJump } from "../../shared/node-registry/proxy.js";

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
  /** OpenSSH ProxyCommand: the connection is this command's stdin and stdout (see ./proxy.ts). */
  proxyCommand?: string;
  /** OpenSSH ProxyJump: jump hosts in order, each host key checked. */
  proxyJump?: string;
  /** %n of ProxyCommand (the ssh config alias the node came from). */
  alias?: string;
  /** Host-key types to ask for first after the ones known_hosts holds (a key the Ganeti cluster vouches for). */
  preferHostKeyTypes?: readonly string[];
}

export class HostKeyError extends Error {
  constructor(
    readonly target: string,
    readonly verdict: Exclude<HostKeyVerdict, { kind: "trusted" }>,
    knownHostsPath: string,
    /** Who presented the key: the node itself, or a jump host on the way to it. */
    readonly presenter: { host: string; port: number; role: "node" | "jump host" } = { host: "", port: 0, role: "node" },
  ) {
    super(HostKeyError.describe(target, verdict, knownHostsPath));
    this.name = "HostKeyError";
  }

  private static describe(target: string, v: Exclude<HostKeyVerdict, { kind: "trusted" }>, path: string): string {
    switch (v.kind) {
      case "unknown":
        return `The host key of ${target} (${v.keyType} ${v.fingerprint}) is not in ${path}. Check the fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and trust it explicitly.`;
      case "changed":
        return `The host key of ${target} CHANGED: it now presents ${v.fingerprint}, but ${path} (line ${v.lines.join(", ")}) trusts ${v.knownFingerprints.join(", ")}. Refusing to connect. If the node was reinstalled, remove the old line and trust the new key.`;
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

/** Socket errors that mean the connection went away. */
const SOCKET_ERRORS = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "ENOTCONN"]);

/** Whether a connect error is the connection going away (a socket error, or ssh2's word for an early end). */
function connectionWentAway(err: Error): boolean {
  return SOCKET_ERRORS.has((err as NodeJS.ErrnoException).code ?? "") || /^Connection lost before handshake$/i.test(err.message);
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

/**
 * The ssh2 settings every connection to the target shares (the node's and
 * its jump hosts'), and the host key check against known_hosts.
 */
async function prepare(target: NodeTarget): Promise<{ config: ConnectConfig; check: HostCheck; label: string }> {
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
    algorithms: sshAlgorithms([...knownHostKeyTypes(knownHosts, target.host, target.port), ...(target.preferHostKeyTypes ?? [])]),
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
  const check: HostCheck = (host, port, key, role) => {
    const verdict = verifyHostKey(knownHosts, host, port, key, keyTypeOfBlob(key));
    if (verdict.kind === "trusted") return undefined;
    const who = role === "node" ? `${host}:${port}` : `the jump host ${host}:${port} (on the way to ${label})`;
    return new HostKeyError(who, verdict, target.knownHostsPath, { host, port, role });
  };
  return { config, check, label };
}

export class NodeSession {
  private ended = false;

  private constructor(
    readonly target: NodeTarget,
    readonly client: Client,
    /** "via …" when the node is reached through a proxy or jump hosts; empty otherwise. */
    readonly via = "",
  ) {
    client.once("close", () => (this.ended = true));
  }

  /** True once the SSH connection has closed: nothing more can be done on it. */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * Whether the connection closes within `ms`: ssh2 fails a request on a
   * connection that is going (a channel, an exec) a moment before it says
   * it closed. Tells a lost connection from a node that refused.
   */
  lostWithin(ms: number): Promise<boolean> {
    if (this.ended) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (lost: boolean) => {
        clearTimeout(timer);
        this.client.off("close", onClose);
        resolve(lost);
      };
      const onClose = () => done(true);
      const timer = setTimeout(() => done(this.ended), ms);
      this.client.once("close", onClose);
    });
  }

  get label(): string {
    return `${this.target.username}@${this.target.host}:${this.target.port}`;
  }

  static async open(target: NodeTarget): Promise<NodeSession> {
    const { config, check } = await prepare(target);
    const transport = await openTransport(target, config, check);
    if (transport.sock) config.sock = transport.sock;
    let rejection: Error | undefined;
    config.hostVerifier = (key: Buffer) => {
      rejection = check(target.host, target.port, key, "node");
      return rejection === undefined;
    };
    const client = new Client();
    const label = `${target.host}:${target.port}`;
    // The connect settles on whatever comes first: ready, an error, or the
    // connection ending or closing at any point of the handshake (ssh2
    // reports a cut there with "close" alone, and a promise that never
    // settles lets a CLI exit 0 with nothing done and nothing said). The
    // route can fail more than once (a command's pipes closing one after the
    // other): the first failure decides, the rest are swallowed.
    let stage = "before the key exchange";
    try {
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const fail = (err: Error) => {
          if (settled) return;
          settled = true;
          client.destroy();
          if (rejection) reject(rejection);
          else void transport.explain(err).then(reject);
        };
        client.once("handshake", () => (stage = "during authentication"));
        client.once("ready", () => {
          if (settled) return;
          settled = true;
          resolve();
        });
        // Stays attached: an error after "ready" is for the session's users (they see "close").
        // A socket error before it (EPIPE, ECONNRESET…) is the connection closing, said as such.
        client.on("error", (err) => fail(connectionWentAway(err) ? new SshConnectClosedError(label, `${stage} (${(err as NodeJS.ErrnoException).code ?? err.message})`) : describeConnectError(label, err)));
        client.once("end", () => fail(new SshConnectClosedError(label, stage)));
        client.once("close", () => fail(new SshConnectClosedError(label, stage)));
        try {
          client.connect(config);
          // From the first packet: the handshake's requests are small and wait on their answers too.
          // With Nagle's algorithm a write stalls behind an unacknowledged one (delayed ACK, ~40 ms).
          client.setNoDelay(true);
        } catch (err) {
          fail(err instanceof Error ? err : new Error(String(err)));
        }
      });
    } catch (err) {
      transport.close();
      throw err;
    }
    client.once("close", () => transport.close());
    // ssh2 has what it needs; the session keeps no copy of the passphrase.
    const { passphrase: _passphrase, ...kept } = target;
    return new NodeSession(kept, client, transport.via);
  }

  /**
   * The host key that `presenter` presents (the node, or a jump host on the
   * way to it), fetched like ssh-keyscan: through the route, without
   * authenticating to the presenter. Hosts before it are checked as usual.
   */
  static async fetchHostKey(target: NodeTarget, presenter: { host: string; port: number; role: "node" | "jump host" }): Promise<Buffer> {
    let route: NodeTarget = target;
    if (presenter.role === "jump host" && target.proxyJump) {
      // The route up to the jump host: the hops before it, then the hop itself as the destination.
      const hops = target.proxyJump.split(",");
      const i = hops.findIndex((h) => {
        const p = parseProxyJump(h);
        return p.ok && p.value[0]?.host === presenter.host && p.value[0].port === presenter.port;
      });
      if (i < 0) throw new Error(`${presenter.host}:${presenter.port} is not a jump host of ${target.host}:${target.port}`);
      const { proxyJump: _j, ...rest } = target;
      route = { ...rest, host: presenter.host, port: presenter.port, ...(i > 0 ? { proxyJump: hops.slice(0, i).join(",") } : {}) };
    }
    const { config, check } = await prepare(route);
    const transport = await openTransport(route, config, check);
    // The presenter is never authenticated to: its connection carries no key
    // (an encrypted key file would otherwise need its passphrase just to ask).
    const { privateKey: _key, passphrase: _passphrase, agent: _agent, ...anonymous } = config;
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const client = new Client();
        let key: Buffer | undefined;
        const finish = (err?: Error) => {
          client.destroy();
          if (key) resolve(key);
          else reject(err ?? new Error(`${route.host}:${route.port} closed the connection before presenting a host key`));
        };
        client.on("error", (err) => void transport.explain(new Error(`Cannot fetch the host key of ${route.host}:${route.port}: ${err.message}`)).then(finish));
        client.on("close", () => finish());
        client.connect({
          ...anonymous,
          ...(transport.sock ? { sock: transport.sock } : {}),
          hostVerifier: (blob: Buffer) => {
            key = Buffer.from(blob);
            // Rejecting ends the handshake before any authentication is attempted.
            queueMicrotask(() => finish());
            return false;
          },
        });
      });
    } finally {
      transport.close();
    }
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
