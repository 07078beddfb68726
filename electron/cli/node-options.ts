// The options every node-reaching command shares:
//   --node USER@HOST[:PORT] [-i KEY] [--known-hosts FILE] [--root DIR]
// Host keys are checked against --known-hosts (default ~/.ssh/known_hosts);
// the CLI never trusts a key on its own.
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { NodeSession, type NodeTarget } from "../ssh/session.js";
import { normalizeRoot } from "../../shared/on-node/layout.js";
import { UsageError } from "./io";

export const NODE_OPTIONS_HELP = `Node options:
  --node USER@HOST[:PORT]   the node to reach over SSH (port 22 by default)
  -i, --identity KEY        private key file (default: ssh-agent via SSH_AUTH_SOCK)
  --known-hosts FILE        OpenSSH known_hosts with the node's host key (default ~/.ssh/known_hosts)
  --root DIR                the node's root for Ganeti's paths (default /)
  --ganeti-version V        a Ganeti version that reads the node's files, e.g. 3.0.2: this node's
                            first, then every node its instances may migrate to (repeat).
                            Default: judged from each runtime file's generation
`;

export const NODE_PARSE_OPTIONS = {
  node: { type: "string" },
  identity: { type: "string", short: "i" },
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
  return {
    target: {
      host,
      port,
      username,
      ...(typeof values.identity === "string" ? { privateKeyPath: values.identity } : {}),
      knownHostsPath: typeof values["known-hosts"] === "string" ? values["known-hosts"] : join(homedir(), ".ssh", "known_hosts"),
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
