// The options every node-reaching command shares:
//   --node USER@HOST[:PORT] [-i KEY] [--known-hosts FILE] [--root DIR]
//   [--proxy-command CMD | --proxy-jump HOSTS]
// Host keys are checked against --known-hosts (default ~/.ssh/known_hosts);
// the CLI never trusts a key on its own.
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { NodeSession, type NodeTarget } from "../ssh/session.js";
import { normalizeRoot } from "../../shared/on-node/layout.js";
import { parseProxyCommand, parseProxyJump } from "../../shared/node-registry/proxy.js";
import { parseArgs } from "node:util";
import { UsageError, type CliIo } from "./io";

export const NODE_OPTIONS_HELP = `Node options:
  --node USER@HOST[:PORT]   the node to reach over SSH (port 22 by default)
  -i, --identity KEY        private key file (default: ssh-agent via SSH_AUTH_SOCK)
  --known-hosts FILE        OpenSSH known_hosts with the node's host key (default ~/.ssh/known_hosts)
  --root DIR                the node's root for Ganeti's paths (default /)
  --proxy-command CMD       reach the node through CMD's stdin/stdout, as OpenSSH's ProxyCommand
                            (%h %p %r expanded; run without a shell)
  --proxy-jump HOSTS        reach the node through jump hosts, [user@]host[:port] separated by commas
  --ganeti-version V        a Ganeti version that reads the node's files, e.g. 3.0.2: this node's
                            first, then every node its instances may migrate to (repeat).
                            Default: read from the node and its Ganeti cluster (ssconf, config.data);
                            given, it overrides what the node reports. Without either, each runtime
                            file's generation decides
`;

export const NODE_PARSE_OPTIONS = {
  node: { type: "string" },
  identity: { type: "string", short: "i" },
  "known-hosts": { type: "string" },
  root: { type: "string" },
  "ganeti-version": { type: "string", multiple: true },
  "proxy-command": { type: "string" },
  "proxy-jump": { type: "string" },
} as const;

export interface NodeOptions {
  target: NodeTarget;
  root: string;
  label: string;
  /** This node's Ganeti version first, then its migration peers'; empty when not given. */
  ganetiVersions: string[];
}

export function nodeOptionsFrom(values: Record<string, unknown>, usage: string): NodeOptions {
  const spec = values.node;
  if (typeof spec !== "string") throw new UsageError("--node USER@HOST[:PORT] is required", usage);
  const m = /^(?:([A-Za-z0-9_.-]+)@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(spec);
  if (!m) throw new UsageError(`--node ${JSON.stringify(spec)} is not USER@HOST[:PORT], e.g. root@node1.example.com:22`, usage);
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) throw new UsageError(`--node port ${port} is out of range 1-65535`, usage);
  const host = m[2]!.replace(/^\[|\]$/g, "");
  let root = "/";
  if (typeof values.root === "string") {
    try {
      root = normalizeRoot(values.root);
    } catch (err) {
      throw new UsageError((err as Error).message, usage);
    }
  }
  const username = m[1] ?? userInfo().username;
  const proxyCommand = typeof values["proxy-command"] === "string" ? values["proxy-command"] : undefined;
  const proxyJump = typeof values["proxy-jump"] === "string" ? values["proxy-jump"] : undefined;
  if (proxyCommand !== undefined && proxyJump !== undefined) throw new UsageError("--proxy-command and --proxy-jump are both given: a node is reached through one of them", usage);
  if (proxyCommand !== undefined) {
    const p = parseProxyCommand(proxyCommand);
    if (!p.ok) throw new UsageError(`--proxy-command: ${p.error}`, usage);
  }
  if (proxyJump !== undefined) {
    const p = parseProxyJump(proxyJump);
    if (!p.ok) throw new UsageError(`--proxy-jump: ${p.error}`, usage);
  }
  return {
    target: {
      host,
      port,
      username,
      ...(typeof values.identity === "string" ? { privateKeyPath: values.identity } : {}),
      knownHostsPath: typeof values["known-hosts"] === "string" ? values["known-hosts"] : join(homedir(), ".ssh", "known_hosts"),
      ...(proxyCommand !== undefined ? { proxyCommand } : {}),
      ...(proxyJump !== undefined ? { proxyJump } : {}),
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
export function parseNodeJsonArgs(argv: string[], usage: string, io: CliIo): { node: NodeOptions; json: boolean } | null {
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
  return { node: nodeOptionsFrom(parsed.values, usage), json: parsed.values.json ?? false };
}
