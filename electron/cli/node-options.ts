// The options every node-reaching command shares:
//   --node USER@HOST[:PORT] [-i KEY] [--proxy-jump HOPS | --proxy-command CMD]
//   [--known-hosts FILE] [--root DIR]
// A --node that names a Host of ~/.ssh/config takes that entry's HostName,
// Port, User, IdentityFile, ProxyJump and ProxyCommand, as ssh would; what
// the command line gives wins. Host keys are checked against --known-hosts
// (default ~/.ssh/known_hosts), the jump hosts' too; the CLI never trusts a
// key on its own.
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { NodeSession, type NodeTarget } from "../ssh/session.js";
import { normalizeRoot } from "../../shared/on-node/layout.js";
import { parseProxyCommand, parseProxyJump } from "../../shared/node-registry/proxy.js";
import { parseArgs } from "node:util";
import { importSshConfig, type SshConfigCandidate } from "../node-registry/ssh-config-import.js";
import type { GanetiAccess } from "../ganeti/guard.js";
import { UsageError, type CliIo } from "./io";

export const NODE_OPTIONS_HELP = `Node options:
  --node USER@HOST[:PORT]   the node to reach over SSH (port 22 by default). A HOST that is a Host of
                            ~/.ssh/config brings its HostName, Port, User, IdentityFile, ProxyJump and
                            ProxyCommand; options given here win
  -i, --identity KEY        private key file (default: ssh-agent via SSH_AUTH_SOCK)
  --proxy-jump HOPS         reach the node through jump hosts: [user@]host[:port], several separated
                            by commas; each one's host key is checked against --known-hosts too
  --proxy-command CMD       reach the node through CMD's stdin and stdout (OpenSSH's ProxyCommand, run
                            without a shell; %h %p %r %n are expanded)
  --known-hosts FILE        OpenSSH known_hosts with the node's host key (default ~/.ssh/known_hosts)
  --root DIR                the node's root for Ganeti's paths (default /)
  --ganeti-version V        a Ganeti version that reads the node's files, e.g. 3.0.2: this node's
                            first, then every node its instances may migrate to (repeat).
                            Default: read from the node and its Ganeti cluster (ssconf, config.data);
                            given, it overrides what the node reports. Without either, each runtime
                            file's generation decides
`;

export const NODE_PARSE_OPTIONS = {
  node: { type: "string" },
  identity: { type: "string", short: "i" },
  "proxy-jump": { type: "string" },
  "proxy-command": { type: "string" },
  "known-hosts": { type: "string" },
  root: { type: "string" },
  "ganeti-version": { type: "string", multiple: true },
} as const;

export interface NodeOptions {
  target: NodeTarget;
  root: string;
  label: string;
  /** This node's Ganeti version first, then its migration peers'; empty when not given. */
  ganetiVersions: string[];
}

/** The ~/.ssh/config entry --node names, if it names one; a Host that cannot be used is a usage error. */
async function sshConfigEntry(alias: string, usage: string): Promise<SshConfigCandidate | undefined> {
  let config;
  try {
    config = await importSshConfig();
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
  const bad = config.unsupported.find((u) => u.alias === alias);
  if (bad) throw new UsageError(`--node ${alias}: its entry in ${config.path} cannot be used: ${bad.reason}`, usage);
  return config.candidates.find((c) => c.alias === alias);
}

/** The route the command line gives (checked), else the ssh config entry's. */
function routeOf(values: Record<string, unknown>, entry: SshConfigCandidate | undefined, usage: string): Pick<NodeTarget, "proxyJump" | "proxyCommand"> {
  const jump = values["proxy-jump"];
  const command = values["proxy-command"];
  if (typeof jump === "string" && typeof command === "string") throw new UsageError("--proxy-jump and --proxy-command are both given: a node is reached through one of them", usage);
  if (typeof jump === "string") {
    const p = parseProxyJump(jump);
    if (!p.ok) throw new UsageError(`--proxy-jump: ${p.error}`, usage);
    return { proxyJump: jump };
  }
  if (typeof command === "string") {
    const p = parseProxyCommand(command);
    if (!p.ok) throw new UsageError(`--proxy-command: ${p.error}`, usage);
    return { proxyCommand: command };
  }
  if (entry?.proxyJump !== undefined) return { proxyJump: entry.proxyJump };
  if (entry?.proxyCommand !== undefined) return { proxyCommand: entry.proxyCommand };
  return {};
}

export async function nodeOptionsFrom(values: Record<string, unknown>, usage: string): Promise<NodeOptions> {
  const spec = values.node;
  if (typeof spec !== "string") throw new UsageError("--node USER@HOST[:PORT] is required", usage);
  const m = /^(?:([A-Za-z0-9_.-]+)@)?([A-Za-z0-9_.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(spec);
  if (!m) throw new UsageError(`--node ${JSON.stringify(spec)} is not USER@HOST[:PORT], e.g. root@node1.example.com:22`, usage);
  const given = m[2]!.replace(/^\[|\]$/g, "");
  const entry = await sshConfigEntry(given, usage);
  const port = m[3] ? Number(m[3]) : (entry?.port ?? 22);
  if (port < 1 || port > 65535) throw new UsageError(`--node port ${port} is out of range 1-65535`, usage);
  const host = entry?.host ?? given;
  let root = "/";
  if (typeof values.root === "string") {
    try {
      root = normalizeRoot(values.root);
    } catch (err) {
      throw new UsageError((err as Error).message, usage);
    }
  }
  const username = m[1] ?? entry?.user ?? userInfo().username;
  const key = typeof values.identity === "string" ? values.identity : entry?.keyPath;
  return {
    target: {
      host,
      port,
      username,
      ...(key !== undefined ? { privateKeyPath: key } : {}),
      knownHostsPath: typeof values["known-hosts"] === "string" ? values["known-hosts"] : join(homedir(), ".ssh", "known_hosts"),
      ...routeOf(values, entry, usage),
      ...(entry ? { alias: entry.alias } : {}),
    },
    root,
    label: `${username}@${host}:${port}`,
    ganetiVersions: Array.isArray(values["ganeti-version"]) ? values["ganeti-version"].map(String) : [],
  };
}

export async function withNode<T>(opts: NodeOptions, fn: (session: NodeSession) => Promise<T>): Promise<T> {
  const session = await NodeSession.open(opts.target);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}

/** A command that takes node options and --json: its options, or null once --help is printed. */
export async function parseNodeJsonArgs(argv: string[], usage: string, io: CliIo): Promise<{ node: NodeOptions; json: boolean } | null> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...NODE_PARSE_OPTIONS, json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
  if (parsed.values.help) {
    io.out(usage);
    return null;
  }
  return { node: await nodeOptionsFrom(parsed.values, usage), json: parsed.values.json ?? false };
}

/**
 * Ganeti's master as the CLI can reach it: the one node it was given. On
 * that node itself the job queue is checked; elsewhere the output says it
 * cannot be (the CLI reaches no node it was not given).
 */
export function cliGanetiAccess(opts: NodeOptions, session: NodeSession): GanetiAccess {
  const self = { id: opts.label, host: opts.target.host, ...(opts.target.alias ? { name: opts.target.alias } : {}), session: () => Promise.resolve(session) };
  return { registry: () => [self], hint: "the command line reaches only the node given with --node, so the queue is checked only where that node is the master." };
}
