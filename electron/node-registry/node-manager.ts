// One SSH connection per configured node, kept alive: connect, notice loss
// (ssh2 keepalive), reconnect with capped backoff, and stop for good on
// problems a retry cannot fix (authentication, host key) until the user acts.
//
//   disconnected --connect--> connecting --ok--> ready --lost--> backing-off --timer--> connecting
//                               |  \--unreachable--> backing-off                |
//                               \--auth / host key / bad key file--> failed <--connect (at once)
//                               \--encrypted key, no or wrong passphrase--> failed (needs: "passphrase")
//
// A key file with a passphrase is opened with the passphrase the
// PassphraseProvider knows for the node (asked for in the UI, kept out of
// nodes.json). The passphrase is handed to ssh2 and to nothing else: it is
// never part of a status, detail, event or error message.
//
// Every attempt uses a new ssh2 Client (NodeSession.open makes one): a Client
// is not reusable after a failure.
import { homedir } from "node:os";
import { readFile } from "node:fs/promises";
import { utils as sshUtils } from "ssh2";
import { HostKeyError, NodeSession, type NodeTarget } from "../ssh/session.js";
import { ProxyError } from "../ssh/proxy.js";
import { fingerprintOf, keyTypeOfBlob, knownHostsLine } from "../ssh/known-hosts.js";
import {
  NodeConfigSchema,
  formatIssues,
  nodeConfigFromRequest,
  type NodeConfig,
  type NodeConfigInput,
  type NodeHostKeyProblem,
  type NodeState,
  type NodeStatus,
} from "../../shared/node-registry/schema.js";
import { DEFAULT_BACKOFF, backoffDelay, type BackoffPolicy } from "./backoff.js";
import { checkHostKey, combineKnownHosts, describeHostKeyProblem, problemFromHostKeyError, type CombinedKnownHosts } from "./host-trust.js";
import type { CorruptSettings, SettingsStore } from "./settings-store.js";

export type NodeManagerErrorCode = "unknown-node" | "invalid-config" | "storage" | "duplicate-node" | "not-ready" | "host-key-refused" | "disposed" | "key-file";

export class NodeManagerError extends Error {
  constructor(
    readonly code: NodeManagerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "NodeManagerError";
  }
}

export type NodeManagerEvent =
  | { type: "status"; status: NodeStatus }
  | { type: "added"; config: NodeConfig }
  | { type: "removed"; id: string };

/** Where the manager gets the passphrase of a node's encrypted key file. */
export interface PassphraseProvider {
  /** The passphrase known for the node, if any. */
  get(nodeId: string): Promise<string | undefined>;
  /** `passphrase` (from get) did not open the node's key file: stop offering it. */
  rejected?(nodeId: string, passphrase: string): Promise<void>;
}

export interface NodeManagerOptions {
  store: SettingsStore;
  /** Passphrases of encrypted key files; without it such nodes fail with needs: "passphrase". */
  passphrases?: PassphraseProvider;
  backoff?: Partial<BackoffPolicy>;
  /** SSH handshake + authentication limit per attempt. */
  readyTimeoutMs?: number;
  /** ssh2 keepalive; a node that misses 3 in a row is treated as lost. */
  keepaliveIntervalMs?: number;
  /** Default wait of session(). */
  sessionTimeoutMs?: number;
  random?: () => number;
  now?: () => number;
}

interface NodeRecord {
  config: NodeConfig;
  status: NodeStatus;
  session?: NodeSession;
  timer?: ReturnType<typeof setTimeout>;
  /** Consecutive failed attempts; reset when ready. */
  failures: number;
  /** Bumped to orphan an attempt in flight (remove, dispose, reconnect). */
  token: number;
  attempt?: Promise<void>;
  trusting?: boolean;
}

/** Errors a retry will not fix: the user has to change something first. */
type Classified = { final: true; detail: string; hostKey?: NodeHostKeyProblem; needs?: "passphrase" } | { final: false; detail: string };

export class NodeManager {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly listeners = new Set<(e: NodeManagerEvent) => void>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly cancelWaits = new Set<(err: Error) => void>();
  private readonly backoff: BackoffPolicy;
  private readonly now: () => number;
  private readonly random: () => number;
  private disposed = false;

  /** Set when nodes.json was unreadable and moved aside at startup; show it to the user. */
  loadProblem: CorruptSettings | undefined;

  constructor(private readonly options: NodeManagerOptions) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** A manager with the nodes from the store (all disconnected). */
  static async open(options: NodeManagerOptions): Promise<NodeManager> {
    const manager = new NodeManager(options);
    const loaded = await options.store.load();
    manager.loadProblem = loaded.corrupt;
    for (const config of loaded.nodes) manager.nodes.set(config.id, manager.newRecord(config));
    return manager;
  }

  // -- subscriptions ---------------------------------------------------------

  /** Every status change, addition and removal. Returns the unsubscribe function. */
  subscribe(listener: (e: NodeManagerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: NodeManagerEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        // One broken listener must not stop the state machine or other listeners.
        console.error("NodeManager listener failed:", err);
      }
    }
  }

  // -- configuration ---------------------------------------------------------

  list(): NodeConfig[] {
    return [...this.nodes.values()].map((r) => structuredClone(r.config));
  }

  status(id: string): NodeStatus | undefined {
    const r = this.nodes.get(id);
    return r ? { ...r.status } : undefined;
  }

  statuses(): NodeStatus[] {
    return [...this.nodes.values()].map((r) => ({ ...r.status }));
  }

  async add(input: NodeConfigInput): Promise<NodeConfig> {
    this.assertLive();
    const parsed = NodeConfigSchema.safeParse(input);
    if (!parsed.success) throw new NodeManagerError("invalid-config", `Cannot add the node: ${formatIssues(parsed.error).join("; ")}`);
    const config = parsed.data;
    if (this.nodes.has(config.id)) throw new NodeManagerError("duplicate-node", `A node with id "${config.id}" exists already: choose another id or remove that node first.`);
    const record = this.newRecord(config);
    this.nodes.set(config.id, record);
    try {
      await this.persist();
    } catch (err) {
      this.nodes.delete(config.id);
      throw new NodeManagerError("storage", `Cannot save the node list to ${this.options.store.nodesPath}: ${(err as Error).message}`);
    }
    this.emit({ type: "added", config: structuredClone(config) });
    this.emit({ type: "status", status: { ...record.status } });
    return structuredClone(config);
  }

  /** add() from what a user typed (user@host:port, ~/ key paths, defaults). */
  async addFromRequest(request: unknown): Promise<NodeConfig> {
    const result = nodeConfigFromRequest(request, { homeDir: homedir(), takenIds: [...this.nodes.keys()] });
    if (!result.ok) throw new NodeManagerError("invalid-config", `Cannot add the node: ${result.errors.join("; ")}`);
    return this.add(result.config);
  }

  /**
   * Sets where disks may also come from on the node, beyond its Ganeti
   * storage (empty: none). Checked like every node setting, then saved.
   */
  async setDiskPathAllow(id: string, paths: readonly string[]): Promise<NodeConfig> {
    this.assertLive();
    const r = this.record(id);
    const { diskPathAllow: _old, ...rest } = r.config;
    const parsed = NodeConfigSchema.safeParse(paths.length > 0 ? { ...rest, diskPathAllow: [...paths] } : rest);
    if (!parsed.success) throw new NodeManagerError("invalid-config", `Cannot change ${this.label(r.config)}: ${formatIssues(parsed.error).join("; ")}`);
    const before = r.config;
    r.config = parsed.data;
    try {
      await this.persist();
    } catch (err) {
      r.config = before;
      throw new NodeManagerError("storage", `Cannot save the node list to ${this.options.store.nodesPath}: ${(err as Error).message}`);
    }
    return structuredClone(r.config);
  }

  /**
   * Closes the node's connection and forgets it. Other nodes that list it in
   * migrationPeers keep the entry: dropping it silently could let a write
   * target a generation the (re-added) peer cannot read.
   */
  async remove(id: string): Promise<void> {
    const r = this.record(id);
    this.halt(r);
    this.nodes.delete(id);
    await this.persist();
    this.emit({ type: "removed", id });
  }

  // -- connections -----------------------------------------------------------

  /**
   * Starts an attempt now (from disconnected, backing-off or failed) and
   * resolves with the status it ends in. No-op while connecting or ready.
   */
  async connect(id: string): Promise<NodeStatus> {
    this.assertLive();
    const r = this.record(id);
    if (r.status.state === "ready") return { ...r.status };
    if (r.status.state !== "connecting") this.startAttempt(r);
    await r.attempt;
    return { ...r.status };
  }

  /**
   * Like connect(), but also starts over while an attempt is in flight (its
   * outcome is dropped): for when what the attempt needs has just changed,
   * such as the key's passphrase. A ready node is left as it is.
   */
  async reconnect(id: string): Promise<NodeStatus> {
    this.assertLive();
    const r = this.record(id);
    if (r.status.state === "ready") return { ...r.status };
    this.startAttempt(r);
    await r.attempt;
    return { ...r.status };
  }

  /**
   * Whether the node's key file is encrypted and, when `passphrase` is given,
   * whether it opens the key. Decrypting takes ssh2 about half a second for
   * an OpenSSH (bcrypt) key. Nothing is kept.
   */
  async checkKeyPassphrase(id: string, passphrase?: string): Promise<{ encrypted: boolean; opens?: boolean }> {
    this.assertLive();
    const { config } = this.record(id);
    if (config.auth.kind !== "key") {
      throw new NodeManagerError("key-file", `${this.label(config)} authenticates with ssh-agent, not a key file: there is no passphrase to enter.`);
    }
    const keyPath = config.auth.keyPath;
    let key: Buffer;
    try {
      key = await readFile(keyPath);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new NodeManagerError("key-file", `Cannot read the key file ${keyPath} for ${this.label(config)} (${e.code ?? e.message}).`);
    }
    if (!isEncryptedKey(key)) return { encrypted: false };
    if (passphrase === undefined) return { encrypted: true };
    return { encrypted: true, opens: !(sshUtils.parseKey(key, passphrase) instanceof Error) };
  }

  /**
   * The node's live session, waiting (up to timeoutMs) while it connects or
   * backs off. Rejects at once when the node has failed, with the reason.
   */
  session(id: string, timeoutMs = this.options.sessionTimeoutMs ?? 30_000): Promise<NodeSession> {
    let r: NodeRecord;
    try {
      this.assertLive();
      r = this.record(id);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (r.status.state === "ready" && r.session) return Promise.resolve(r.session);
    if (r.status.state === "failed") return Promise.reject(new NodeManagerError("not-ready", r.status.detail ?? `Node "${id}" failed to connect.`));
    if (r.status.state === "disconnected") this.startAttempt(r);
    return new Promise<NodeSession>((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        unsubscribe();
        this.cancelWaits.delete(cancel);
        fn();
      };
      const cancel = (err: Error) => done(() => reject(err));
      const timer = setTimeout(() => {
        const s = this.nodes.get(id)?.status;
        cancel(new NodeManagerError("not-ready", `Node "${id}" is not ready after ${Math.round(timeoutMs / 1000)} s (${s?.state ?? "removed"}${s?.detail ? `: ${s.detail}` : ""}).`));
      }, timeoutMs);
      const unsubscribe = this.subscribe((e) => {
        if (e.type === "removed" && e.id === id) cancel(new NodeManagerError("unknown-node", `Node "${id}" was removed while waiting for its connection.`));
        if (e.type !== "status" || e.status.id !== id) return;
        const current = this.nodes.get(id);
        if (e.status.state === "ready" && current?.session) {
          const s = current.session;
          done(() => resolve(s));
        } else if (e.status.state === "failed") {
          cancel(new NodeManagerError("not-ready", e.status.detail ?? `Node "${id}" failed to connect.`));
        }
      });
      this.cancelWaits.add(cancel);
    });
  }

  /**
   * The node's pending "unknown" host-key verdict, if `fingerprint` is
   * exactly its key's; otherwise a refusal that says why (nothing pending, a
   * changed or revoked key, another fingerprint). Checked before the user is
   * asked to confirm, and again by trustHostKey.
   */
  hostKeyAwaitingTrust(id: string, fingerprint: string): NodeHostKeyProblem {
    this.assertLive();
    const r = this.record(id);
    const { config } = r;
    const label = this.label(config);
    const problem = r.status.hostKey;
    if (!problem) {
      throw new NodeManagerError("host-key-refused", `Node "${id}" has no host key waiting to be trusted (it is ${r.status.state}). Connect first; if its key is unknown you will be asked to trust it.`);
    }
    if (problem.verdict !== "unknown") {
      throw new NodeManagerError("host-key-refused", `Not trusting: ${describeHostKeyProblem(label, config.host, config.port, problem)}`);
    }
    if (fingerprint.trim() !== problem.fingerprint) {
      throw new NodeManagerError(
        "host-key-refused",
        `Not trusting: the fingerprint given (${fingerprint.trim() || "empty"}) is not the one ${label} presented (${problem.fingerprint}). Compare again with ssh-keygen -lf on the node; nothing was written.`,
      );
    }
    return { ...problem };
  }

  /**
   * Trusts the host key the node presented in its last "unknown" verdict, if
   * `fingerprint` is exactly that key's (as the user compared it). Appends it
   * to the app's known_hosts and connects. A changed or revoked key is never
   * trusted here: the old line has to be removed by the user first.
   */
  async trustHostKey(id: string, fingerprint: string): Promise<void> {
    const problem = this.hostKeyAwaitingTrust(id, fingerprint);
    const r = this.record(id);
    const { config } = r;
    const label = this.label(config);
    if (r.trusting) throw new NodeManagerError("host-key-refused", `The host key of ${label} is already being trusted.`);
    r.trusting = true;
    try {
      // The status only holds the fingerprint; fetch the key itself (from the
      // node or the jump host that presented it, along the node's route) and
      // make sure it is still the one the user compared.
      const presenter = problem.jumpHost ? { ...problem.jumpHost, role: "jump host" as const } : { host: config.host, port: config.port, role: "node" as const };
      // Jump hosts before the presenter are logged in to: an encrypted key needs its passphrase.
      const passphrase = presenter.role === "jump host" ? await this.keyPassphrase(config).catch(() => undefined) : undefined;
      const { combined: _c, ...target } = await this.target(config, passphrase);
      const blob = await NodeSession.fetchHostKey(target, presenter);
      const now = fingerprintOf(blob);
      if (now !== problem.fingerprint) {
        throw new NodeManagerError(
          "host-key-refused",
          `Not trusting: ${presenter.role === "node" ? label : `the jump host ${presenter.host}:${presenter.port}`} now presents ${keyTypeOfBlob(blob)} ${now}, not ${problem.fingerprint} which you confirmed. Nothing was written; connect again and compare the new fingerprint.`,
        );
      }
      const store = this.options.store;
      const check = checkHostKey(await store.knownHostsSources(), presenter.host, presenter.port, blob);
      if (check.kind === "changed" || check.kind === "revoked") {
        const withJump = problem.jumpHost ? { ...check, jumpHost: problem.jumpHost } : check;
        throw new NodeManagerError("host-key-refused", `Not trusting: ${describeHostKeyProblem(label, config.host, config.port, withJump)}`);
      }
      if (check.kind === "unknown") await store.appendKnownHost(knownHostsLine(presenter.host, presenter.port, keyTypeOfBlob(blob), blob));
    } finally {
      r.trusting = false;
    }
    const state = r.status.state;
    if (this.nodes.get(id) === r && !this.disposed && state !== "ready" && state !== "connecting") this.startAttempt(r);
  }

  /** Closes every connection, stops every timer and waits for attempts in flight. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const cancel of [...this.cancelWaits]) cancel(new NodeManagerError("disposed", "The node manager was shut down."));
    const closing = [...this.nodes.values()].map((r) => this.halt(r));
    await Promise.allSettled([...closing, ...this.inflight]);
    this.listeners.clear();
  }

  // -- internals -------------------------------------------------------------

  private newRecord(config: NodeConfig): NodeRecord {
    return { config, status: { id: config.id, state: "disconnected", since: this.now() }, failures: 0, token: 0 };
  }

  private record(id: string): NodeRecord {
    const r = this.nodes.get(id);
    if (!r) throw new NodeManagerError("unknown-node", `No node with id "${id}": add it first (known ids: ${[...this.nodes.keys()].join(", ") || "none"}).`);
    return r;
  }

  private assertLive(): void {
    if (this.disposed) throw new NodeManagerError("disposed", "The node manager was shut down; create a new one.");
  }

  private label(c: NodeConfig): string {
    const via = c.proxyJump ? ` via ${c.proxyJump}` : c.proxyCommand ? " via its ProxyCommand" : "";
    return `node "${c.name}" (${c.user}@${c.host}:${c.port}${via})`;
  }

  private persist(): Promise<void> {
    return this.options.store.save([...this.nodes.values()].map((r) => r.config));
  }

  private setStatus(r: NodeRecord, state: NodeState, extra: Omit<NodeStatus, "id" | "state" | "since"> = {}): void {
    r.status = { id: r.config.id, state, since: this.now(), ...extra };
    this.emit({ type: "status", status: { ...r.status } });
  }

  /** Orphans any attempt, clears the retry timer and closes the session. */
  private halt(r: NodeRecord): Promise<void> {
    r.token++;
    if (r.timer) clearTimeout(r.timer);
    r.timer = undefined;
    const s = r.session;
    r.session = undefined;
    return s ? closeSession(s) : Promise.resolve();
  }

  private startAttempt(r: NodeRecord): void {
    if (r.timer) clearTimeout(r.timer);
    r.timer = undefined;
    if (r.session) {
      // Never leave a live connection behind when starting over.
      void closeSession(r.session);
      r.session = undefined;
    }
    const token = ++r.token;
    this.setStatus(r, "connecting", { attempt: r.failures + 1 });
    const p = this.runAttempt(r, token).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    r.attempt = p;
  }

  private isCurrent(r: NodeRecord, token: number): boolean {
    return !this.disposed && r.token === token && this.nodes.get(r.config.id) === r;
  }

  private async runAttempt(r: NodeRecord, token: number): Promise<void> {
    const { config } = r;
    const label = this.label(config);
    if (config.auth.kind === "agent" && !process.env.SSH_AUTH_SOCK) {
      this.setStatus(r, "failed", {
        detail: `${label} uses ssh-agent, but no agent is running for this app (SSH_AUTH_SOCK is not set). Start ssh-agent and add your key (ssh-add), or give the node a key file; then connect again.`,
      });
      return;
    }
    let session: NodeSession;
    let passphrase: string | undefined;
    try {
      passphrase = await this.keyPassphrase(config);
      if (!this.isCurrent(r, token)) return;
      session = await this.openSession(config, passphrase);
    } catch (err) {
      if (!this.isCurrent(r, token)) return;
      if (err instanceof WrongPassphraseError && passphrase !== undefined) {
        await this.options.passphrases?.rejected?.(config.id, passphrase).catch(() => undefined);
        if (!this.isCurrent(r, token)) return;
      }
      const c = await this.classify(config, err);
      if (!this.isCurrent(r, token)) return;
      if (c.final) {
        this.setStatus(r, "failed", { detail: c.detail, ...(c.hostKey ? { hostKey: c.hostKey } : {}), ...(c.needs ? { needs: c.needs } : {}) });
      } else {
        this.scheduleRetry(r, c.detail);
      }
      return;
    }
    if (!this.isCurrent(r, token)) {
      await closeSession(session);
      return;
    }
    r.session = session;
    r.failures = 0;
    let lastError: Error | undefined;
    // NodeSession.open's own error listener is spent once it resolved; without
    // this one a later error (keepalive timeout) would be thrown as unhandled.
    session.client.on("error", (err) => {
      lastError = err;
    });
    session.client.once("close", () => {
      if (r.session !== session) return; // closed on purpose (remove, dispose)
      r.session = undefined;
      if (!this.isCurrent(r, token)) return;
      this.scheduleRetry(r, `The connection to ${label} was lost${lastError ? ` (${lastError.message})` : ""}.`);
    });
    this.setStatus(r, "ready", { detail: `Connected to ${label}.` });
  }

  /**
   * The passphrase for the node's key file when the file is encrypted
   * (undefined when it is not, or with ssh-agent). Throws PassphraseNeededError
   * when none is known, and the read error when the file cannot be read.
   */
  private async keyPassphrase(config: NodeConfig): Promise<string | undefined> {
    if (config.auth.kind !== "key") return undefined;
    const key = await readFile(config.auth.keyPath);
    if (!isEncryptedKey(key)) return undefined;
    let passphrase: string | undefined;
    try {
      passphrase = await this.options.passphrases?.get(config.id);
    } catch {
      // A keychain that cannot be read is the same as nothing remembered: ask.
      passphrase = undefined;
    }
    if (passphrase === undefined || passphrase === "") throw new PassphraseNeededError();
    return passphrase;
  }

  /** How NodeSession reaches the node: address, key, known_hosts (the app's and the user's as one text), route. */
  private async target(config: NodeConfig, passphrase?: string): Promise<NodeTarget & { combined: CombinedKnownHosts }> {
    // Trusted if the app's or the user's known_hosts trusts the key: both are
    // checked as one text; problems are mapped back to the file and line.
    const combined = combineKnownHosts(await this.options.store.knownHostsSources());
    return {
      combined,
      host: config.host,
      port: config.port,
      username: config.user,
      knownHostsPath: this.options.store.knownHostsPath,
      knownHostsText: combined.text,
      readyTimeoutMs: this.options.readyTimeoutMs ?? 20_000,
      keepaliveIntervalMs: this.options.keepaliveIntervalMs ?? 10_000,
      ...(config.auth.kind === "key" ? { privateKeyPath: config.auth.keyPath } : {}),
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(config.proxyJump !== undefined ? { proxyJump: config.proxyJump } : {}),
      ...(config.proxyCommand !== undefined ? { proxyCommand: config.proxyCommand } : {}),
      ...(config.expectedHostKey ? { preferHostKeyTypes: [config.expectedHostKey.keyType] } : {}),
    };
  }

  private async openSession(config: NodeConfig, passphrase?: string): Promise<NodeSession> {
    const { combined, ...target } = await this.target(config, passphrase);
    try {
      return await NodeSession.open(target);
    } catch (err) {
      if (err instanceof HostKeyError) throw new MappedHostKeyError(problemFromHostKeyError(err, combined));
      // ssh2 parses the key before it connects; with an encrypted key and a
      // passphrase, a key that does not parse is a passphrase that does not open it.
      if (passphrase !== undefined && err instanceof Error && /^Cannot parse privateKey/.test(err.message)) {
        throw new WrongPassphraseError(err.message.replace(/^Cannot parse privateKey:\s*/, ""));
      }
      throw err;
    }
  }

  private async classify(config: NodeConfig, err: unknown): Promise<Classified> {
    const label = this.label(config);
    if (err instanceof MappedHostKeyError) {
      const e = config.expectedHostKey;
      const problem = e && err.problem.verdict === "unknown" && !err.problem.jumpHost ? { ...err.problem, expected: { ...e, matches: e.fingerprint === err.problem.fingerprint } } : err.problem;
      return { final: true, detail: describeHostKeyProblem(label, config.host, config.port, problem), hostKey: problem };
    }
    if (err instanceof ProxyError) return { final: err.final, detail: `Cannot reach ${label}: ${err.message}` };
    const e = err as NodeJS.ErrnoException & { level?: string };
    const message = e instanceof Error ? e.message : String(err);
    const keyPath = config.auth.kind === "key" ? config.auth.keyPath : undefined;
    const orAgent = `or load it into ssh-agent (ssh-add ${keyPath ?? "<key>"}) and switch the node to agent authentication`;
    if (err instanceof PassphraseNeededError) {
      return { final: true, needs: "passphrase", detail: `The key file ${keyPath ?? "(none)"} for ${label} is encrypted: enter its passphrase (${orAgent}).` };
    }
    if (err instanceof WrongPassphraseError) {
      return {
        final: true,
        needs: "passphrase",
        detail: `The passphrase for the key file ${keyPath ?? "(none)"} was wrong: it does not open the key (${err.message}). Enter it again (${orAgent}).`,
      };
    }
    if (e.level === "client-authentication") {
      const what = keyPath ? `the key ${keyPath}` : "the keys in ssh-agent";
      return {
        final: true,
        detail: `Authentication as ${config.user} on ${label} failed: the node did not accept ${what}. Add the matching public key to ~${config.user}/.ssh/authorized_keys on the node or pick another key, then connect again.`,
      };
    }
    if (keyPath && e.path === keyPath) {
      return { final: true, detail: `Cannot read the key file ${keyPath} for ${label} (${e.code ?? message}). Fix the node's key path or use ssh-agent, then connect again.` };
    }
    if (/privateKey|passphrase|private key/i.test(message)) {
      return {
        final: true,
        detail: `The key file ${keyPath ?? "(none)"} cannot be used for ${label}: ${message}. Pick another key file, ${orAgent}.`,
      };
    }
    if (e.name === "SshAlgorithmError") {
      // The node offers only algorithms this app refuses (SHA-1): retrying will not change that.
      return { final: true, detail: `${message} Then connect again.` };
    }
    if (e.level === "agent") {
      return { final: true, detail: `ssh-agent (SSH_AUTH_SOCK) failed while authenticating to ${label}: ${message}. Check that ssh-agent runs and holds your key (ssh-add -l), then connect again.` };
    }
    return { final: false, detail: `Cannot connect to ${label}: ${message}.` };
  }

  private scheduleRetry(r: NodeRecord, reason: string): void {
    r.failures += 1;
    const delay = backoffDelay(r.failures, this.backoff, this.random);
    const retryAt = this.now() + delay;
    const token = r.token;
    r.timer = setTimeout(() => {
      r.timer = undefined;
      if (this.isCurrent(r, token)) this.startAttempt(r);
    }, delay);
    this.setStatus(r, "backing-off", {
      detail: `${reason} Retrying in ${delay < 1000 ? `${delay} ms` : `${Math.round(delay / 1000)} s`}; connect to retry now.`,
      attempt: r.failures,
      retryAt,
    });
  }
}

/** The key file is encrypted and no passphrase is known for the node. */
class PassphraseNeededError extends Error {
  constructor() {
    super("the key file is encrypted and no passphrase is known");
  }
}

/** The passphrase given did not open the key file; the message is ssh2's reason (never the passphrase). */
class WrongPassphraseError extends Error {}

/** ssh2 reads an encrypted key's header without a passphrase and says it needs one. */
function isEncryptedKey(key: Buffer): boolean {
  const parsed = sshUtils.parseKey(key);
  return parsed instanceof Error && /no passphrase given/.test(parsed.message);
}

/** A host-key refusal with known_hosts lines already mapped to the real files. */
class MappedHostKeyError extends Error {
  constructor(readonly problem: NodeHostKeyProblem) {
    super(`host key ${problem.verdict}: ${problem.fingerprint}`);
  }
}

/** Ends the connection politely, then forcibly if the node does not answer. */
function closeSession(session: NodeSession, graceMs = 2_000): Promise<void> {
  const client = session.client;
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      client.destroy();
      resolve();
    }, graceMs);
    client.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    // A late error while closing is expected and not interesting.
    client.on("error", () => undefined);
    try {
      client.end();
    } catch {
      client.destroy();
    }
  });
}
