// Nodes the app connects to: what is stored (NodeConfig), what the user types
// to add one (AddNodeRequest) and what the UI is told about each connection
// (NodeStatus). Pure: no I/O. Messages name the field and say how to fix it.
//
// Secrets are never part of a node's configuration: there is no password or
// passphrase field, and objects are strict so one cannot slip in. A key
// file's passphrase is asked for when the node connects (NodeStatus.needs)
// and kept apart from the settings (electron/app/passphrase-store.ts); or
// the key is used through ssh-agent (`ssh-add <key>`, then agent auth).
import { z } from "zod";
import { GenerationSchema } from "../runtime/generation.js";
import { parseGanetiVersion } from "../ganeti/versions.js";
import { USER_RE, isValidHost, splitHostInput } from "./host.js";
import { parseProxyCommand, parseProxyJump } from "./proxy.js";
import { SYSTEM_DIRS, isInside } from "../on-node/disk-paths.js";

export { isValidHost, splitHostInput };

const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SECRET_KEY_RE = /pass(word|phrase)?|secret|token|private_?key$/i;

/** Text field with "is required" / "must be text" messages that name it. */
function text(field: string) {
  return z.string({ error: (iss) => (iss.input === undefined ? `${field} is required` : `${field} must be text`) });
}

/** Strict object whose stray-field message explains why secrets are refused. */
function strict<T extends z.core.$ZodLooseShape>(what: string, shape: T) {
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== "unrecognized_keys") return undefined;
      const keys = iss.keys;
      if (keys.some((k) => SECRET_KEY_RE.test(k))) {
        return `${keys.join(", ")}: secrets are never stored in ${what}. The app asks for a key file's passphrase when it connects; or load the key into ssh-agent (ssh-add <key>) and use agent authentication.`;
      }
      return `${what} has unknown field(s) ${keys.join(", ")}: remove them.`;
    },
  });
}

export const NodeIdSchema = text("id").regex(
  SLUG_RE,
  'id must be a slug: lowercase letters, digits and "-", at most 63 characters, starting and ending with a letter or digit (e.g. "node-1")',
);
export type NodeId = z.infer<typeof NodeIdSchema>;

export const HostSchema = text("host").superRefine((host, ctx) => {
  const fix = (message: string) => ctx.addIssue({ code: "custom", message });
  if (host.trim() !== host || host === "") fix("host must be a host name or IP address without spaces (e.g. node1.example.org)");
  else if (host.includes("@")) fix(`host "${host}" contains "@": put the user name in user and only the host here`);
  else if (host.startsWith("[")) fix(`host "${host}" has brackets: write an IPv6 address bare (e.g. fd00::1) and the port in port`);
  else if (!isValidHost(host)) {
    if (/^[^:]+:\d+$/.test(host)) fix(`host "${host}" contains a port: put the port in port and only the host here`);
    else fix(`host "${host}" is not a valid host name or IP address (e.g. node1.example.org, 192.0.2.10 or fd00::1)`);
  }
});

export const PortSchema = z
  .int({ error: "port must be a whole number from 1 to 65535 (SSH uses 22)" })
  .min(1, "port must be a whole number from 1 to 65535 (SSH uses 22)")
  .max(65535, "port must be a whole number from 1 to 65535 (SSH uses 22)");

export const UserSchema = text("user").regex(USER_RE, 'user must be a login name such as "root" or "ganeti-admin" (letters, digits, "_", ".", "-")');

/** An absolute, already-normalised POSIX path: no "..", no "//", no trailing "/". */
function isCleanAbsolutePath(p: string): boolean {
  if (!p.startsWith("/") || /[\0\n\r]/.test(p)) return false;
  if (p === "/") return true;
  if (p.endsWith("/")) return false;
  return p.split("/").slice(1).every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

export const KeyPathSchema = text("auth.keyPath").refine(
  isCleanAbsolutePath,
  "auth.keyPath must be the absolute path of a private key file on this computer (e.g. /home/me/.ssh/id_ed25519); no '..' or trailing '/'",
);

export const NodeAuthSchema = z.discriminatedUnion(
  "kind",
  [strict("auth", { kind: z.literal("key"), keyPath: KeyPathSchema }), strict("auth", { kind: z.literal("agent") })],
  { error: 'auth must be { kind: "key", keyPath } or { kind: "agent" }' },
);
export type NodeAuth = z.infer<typeof NodeAuthSchema>;

export const RootSchema = text("root").refine(
  isCleanAbsolutePath,
  'root must be an absolute path on the node, "/" for a normal install (e.g. /srv/chroot); no "..", "//" or trailing "/"',
);

export const GanetiVersionSchema = text("ganetiVersion").refine((v) => parseGanetiVersion(v) !== null, 'ganetiVersion must be a Ganeti version such as "3.0.2" or "2.15.2" (see `gnt-cluster version` on the node)');

/**
 * Where disks may live on the node beyond its Ganeti storage: absolute paths
 * on the node (a directory of images, a block device). Never "/" and never
 * inside the node's system directories, which no disk may come from.
 */
export const DiskPathAllowSchema = z
  .array(
    text("diskPathAllow").superRefine((p, ctx) => {
      if (!isCleanAbsolutePath(p)) ctx.addIssue({ code: "custom", message: `diskPathAllow: "${p}" must be an absolute path on the node (e.g. /srv/images or /dev/vg1/data); no "..", "//" or trailing "/"` });
      else if (p === "/") ctx.addIssue({ code: "custom", message: 'diskPathAllow: "/" would allow every path on the node; name the directories or devices disks may come from' });
      else {
        const system = SYSTEM_DIRS.find((d) => isInside(p, d));
        if (system) ctx.addIssue({ code: "custom", message: `diskPathAllow: "${p}" is inside ${system}, one of the node's system directories, which no disk may come from` });
      }
    }),
    { error: "diskPathAllow must be a list of paths on the node" },
  )
  .max(64, "diskPathAllow: at most 64 paths");

/** OpenSSH ProxyCommand text, run as an argument vector (see proxy.ts). */
export const ProxyCommandSchema = text("proxyCommand").superRefine((v, ctx) => {
  const p = parseProxyCommand(v);
  if (!p.ok) ctx.addIssue({ code: "custom", message: p.error });
});

/** OpenSSH ProxyJump text: jump hosts in order. */
export const ProxyJumpSchema = text("proxyJump").superRefine((v, ctx) => {
  const p = parseProxyJump(v);
  if (!p.ok) ctx.addIssue({ code: "custom", message: p.error });
});

export const ExpectedHostKeySchema = strict("expectedHostKey", {
  keyType: text("expectedHostKey.keyType").regex(/^[a-z0-9@.-]{3,64}$/, "expectedHostKey.keyType must be an SSH key type such as ssh-ed25519 or ssh-rsa"),
  fingerprint: text("expectedHostKey.fingerprint").regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "expectedHostKey.fingerprint must be SHA256:… as ssh-keygen -l prints it"),
  /** Who vouches for it, for people. */
  source: text("expectedHostKey.source").max(300),
});
export type ExpectedHostKey = z.infer<typeof ExpectedHostKeySchema>;

export const NodeConfigSchema = strict("a node's settings", {
  id: NodeIdSchema,
  name: text("name").trim().min(1, "name must not be empty").max(80, "name must be at most 80 characters"),
  host: HostSchema,
  port: PortSchema.default(22),
  user: UserSchema,
  auth: NodeAuthSchema,
  root: RootSchema.default("/"),
  /** Picks the runtime-file generation this node reads and writes. */
  ganetiVersion: GanetiVersionSchema.optional(),
  /** Node ids this node's instances may migrate to (their Ganeti must read our files too). */
  migrationPeers: z
    .array(NodeIdSchema, { error: "migrationPeers must be a list of node ids" })
    .refine((ids) => new Set(ids).size === ids.length, "migrationPeers lists a node twice: remove the duplicate")
    .optional(),
  /** Never write a runtime-file generation newer than this. */
  generationFloor: GenerationSchema.optional(),
  /** Reach the node through these jump hosts (ssh2 to each, forwarding to the next); every host key is checked. */
  proxyJump: ProxyJumpSchema.optional(),
  /** Reach the node through this command's stdin and stdout (OpenSSH's ProxyCommand, without a shell). */
  proxyCommand: ProxyCommandSchema.optional(),
  /**
   * A host key the node's Ganeti cluster vouches for (its own known_hosts,
   * read on another node): asked for first and shown beside an unknown key
   * for the user to compare. Never trusted by itself.
   */
  expectedHostKey: ExpectedHostKeySchema.optional(),
  /** Where disks may also come from on this node, beyond its Ganeti storage (shared/on-node/disk-paths.ts). */
  diskPathAllow: DiskPathAllowSchema.optional(),
}).superRefine((node, ctx) => {
  if (node.proxyJump !== undefined && node.proxyCommand !== undefined) {
    ctx.addIssue({ code: "custom", path: ["proxyCommand"], message: "proxyJump and proxyCommand are both set: a node is reached through one of them; keep the one you use" });
  }
  if (node.migrationPeers?.includes(node.id)) {
    ctx.addIssue({ code: "custom", path: ["migrationPeers"], message: `migrationPeers must not contain the node itself ("${node.id}"): remove it` });
  }
});
export type NodeConfig = z.infer<typeof NodeConfigSchema>;
/** What callers may pass to add(): port and root may be left out. */
export type NodeConfigInput = z.input<typeof NodeConfigSchema>;

/** The on-disk settings file (nodes.json). */
export const NodesFileSchema = strict("nodes.json", {
  version: z.literal(1, { error: "version must be 1 (this file was written by a newer Hotplug Desk?)" }),
  nodes: z.array(NodeConfigSchema, { error: "nodes must be a list" }),
}).superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.nodes.forEach((n, i) => {
    if (seen.has(n.id)) ctx.addIssue({ code: "custom", path: ["nodes", i, "id"], message: `id "${n.id}" is used by two nodes: rename one` });
    seen.add(n.id);
  });
});
export type NodesFile = z.infer<typeof NodesFileSchema>;

export const NodeStateSchema = z.enum(["disconnected", "connecting", "ready", "backing-off", "failed"]);
export type NodeState = z.infer<typeof NodeStateSchema>;

export const HostKeyVerdictSchema = z.enum(["unknown", "changed", "revoked"]);

export const NodeHostKeyProblemSchema = z.object({
  verdict: HostKeyVerdictSchema,
  /** What the node presented, "SHA256:…" as ssh-keygen -l prints it. */
  fingerprint: z.string(),
  keyType: z.string(),
  /** For "changed": the keys known_hosts trusts instead. */
  knownFingerprints: z.array(z.string()).optional(),
  /** For "changed": the type of each of knownFingerprints (may differ from keyType: another type is a change too). */
  knownKeyTypes: z.array(z.string()).optional(),
  /** known_hosts lines that conflict with the presented key (changed / revoked). */
  knownAt: z.array(z.object({ file: z.string(), line: z.int().positive() })).optional(),
  /** Set when a jump host on the way to the node presented the key, not the node itself. */
  jumpHost: z.object({ host: z.string(), port: z.int().positive() }).optional(),
  /** For "unknown": the key the node's Ganeti cluster vouches for (expectedHostKey), and whether the presented one is it. */
  expected: z.object({ keyType: z.string(), fingerprint: z.string(), source: z.string(), matches: z.boolean() }).optional(),
});
export type NodeHostKeyProblem = z.infer<typeof NodeHostKeyProblemSchema>;

export const NodeStatusSchema = z.object({
  id: NodeIdSchema,
  state: NodeStateSchema,
  /** Why the node is in this state and what to do, for people. */
  detail: z.string().optional(),
  /** Epoch ms of the last state change. */
  since: z.number().nonnegative(),
  /** Connecting: the attempt in progress (1 = first). Backing-off: failed attempts so far. */
  attempt: z.int().positive().optional(),
  /** Backing-off: epoch ms of the next automatic attempt. */
  retryAt: z.number().nonnegative().optional(),
  hostKey: NodeHostKeyProblemSchema.optional(),
  /** Failed: what the user has to give before the node can connect (the key file's passphrase). */
  needs: z.enum(["passphrase"]).optional(),
});
export type NodeStatus = z.infer<typeof NodeStatusSchema>;

// ---------------------------------------------------------------------------
// Adding a node from what a user types.

const PortInputSchema = z.union([PortSchema, z.string().trim().regex(/^\d{1,5}$/, "port must be a whole number from 1 to 65535 (SSH uses 22)").transform(Number).pipe(PortSchema)], {
  error: "port must be a whole number from 1 to 65535 (SSH uses 22)",
});

export const AddNodeRequestSchema = strict("the new node", {
  /** "node1", "node1:2222", "root@node1", "admin@[fd00::1]:2222" are all accepted. */
  host: text("host").trim().min(1, "host is required (a host name or IP address, e.g. node1.example.org)"),
  port: PortInputSchema.optional(),
  /** Defaults to root: the runtime files and QMP sockets belong to root. */
  user: UserSchema.optional(),
  /** Private key file; "~/" is expanded. Leave out (or set agent) to use ssh-agent. */
  keyPath: text("keyPath").trim().min(1, "keyPath must not be empty: leave it out to use ssh-agent").optional(),
  agent: z.boolean({ error: "agent must be true or false" }).optional(),
  root: RootSchema.optional(),
  name: text("name").trim().max(80, "name must be at most 80 characters").optional(),
  id: NodeIdSchema.optional(),
  ganetiVersion: GanetiVersionSchema.optional(),
  migrationPeers: z.array(NodeIdSchema).optional(),
  generationFloor: GenerationSchema.optional(),
  /** Jump hosts, "[user@]host[:port]" separated by commas; empty means none. */
  proxyJump: text("proxyJump").trim().optional(),
  /** A ProxyCommand as in ~/.ssh/config; empty means none. */
  proxyCommand: text("proxyCommand").trim().optional(),
  /** Where disks may also come from on the node, beyond its Ganeti storage. */
  diskPathAllow: DiskPathAllowSchema.optional(),
});
export type AddNodeRequest = z.input<typeof AddNodeRequestSchema>;

export type AddNodeResult = { ok: true; config: NodeConfig } | { ok: false; errors: string[] };

/** "path.to.field: message", unless the message already starts with the field. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((iss) => {
    const path = iss.path.map(String).join(".");
    if (!path || iss.message.startsWith(path) || iss.message.startsWith(String(iss.path[iss.path.length - 1]))) return iss.message;
    return `${path}: ${iss.message}`;
  });
}

/** A slug for a node id: "Node 1.example.org" -> "node-1-example-org". */
export function slugify(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return s === "" ? "node" : s;
}

/** "~" and "~/x" -> under homeDir. "~other/x" is refused (we do not look up other users). */
function expandHome(path: string, homeDir: string): string | { error: string } {
  if (path === "~") return homeDir;
  if (path.startsWith("~/")) return `${homeDir.replace(/\/+$/, "")}/${path.slice(2)}`;
  if (path.startsWith("~")) return { error: `keyPath "${path}": "~user" is not supported; write the full path (e.g. /home/user/.ssh/id_ed25519)` };
  return path;
}

function normalizePath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return `/${out.join("/")}`;
}

/**
 * Turns what the user typed into a NodeConfig: splits user@host:port, expands
 * "~/" in keyPath, defaults user to root and auth to ssh-agent, derives a free
 * id from the name or host. Pure: the home dir and taken ids are passed in.
 */
export function nodeConfigFromRequest(input: unknown, ctx: { homeDir: string; takenIds: readonly string[] }): AddNodeResult {
  const parsed = AddNodeRequestSchema.safeParse(input);
  if (!parsed.success) return { ok: false, errors: formatIssues(parsed.error) };
  const req = parsed.data;
  const errors: string[] = [];

  const split = splitHostInput(req.host);
  let user = req.user;
  if (split.user !== undefined) {
    if (user !== undefined && user !== split.user) errors.push(`user: host says "${split.user}@…" but user says "${user}": keep only one`);
    user ??= split.user;
  }
  let port = req.port;
  if (split.port !== undefined) {
    const fromHost = PortInputSchema.safeParse(split.port);
    if (!fromHost.success) errors.push(`port: "${split.port}" after the host is not a port from 1 to 65535`);
    else if (port !== undefined && port !== fromHost.data) errors.push(`port: host says ":${fromHost.data}" but port says ${port}: keep only one`);
    else port = fromHost.data;
  }

  let auth: NodeConfigInput["auth"] = { kind: "agent" };
  if (req.keyPath !== undefined && req.agent === true) {
    errors.push("keyPath and agent are both set: choose a key file or ssh-agent, not both");
  } else if (req.keyPath !== undefined) {
    const expanded = expandHome(req.keyPath, ctx.homeDir);
    if (typeof expanded === "object") errors.push(expanded.error);
    else if (!expanded.startsWith("/")) errors.push(`keyPath "${req.keyPath}" must be absolute or start with "~/" (e.g. ~/.ssh/id_ed25519)`);
    else auth = { kind: "key", keyPath: normalizePath(expanded) };
  }
  if (errors.length > 0) return { ok: false, errors };

  const name = req.name && req.name.length > 0 ? req.name : split.host;
  let id = req.id;
  if (id === undefined) {
    const base = slugify(name);
    id = base;
    for (let n = 2; ctx.takenIds.includes(id); n++) id = `${base.slice(0, 60)}-${n}`;
  } else if (ctx.takenIds.includes(id)) {
    return { ok: false, errors: [`id "${id}" is already used by another node: choose another id or leave it out`] };
  }

  const candidate: NodeConfigInput = {
    id,
    name,
    host: split.host,
    port: port ?? 22,
    user: user ?? "root",
    auth,
    root: req.root ?? "/",
    ...(req.ganetiVersion !== undefined ? { ganetiVersion: req.ganetiVersion } : {}),
    ...(req.migrationPeers !== undefined ? { migrationPeers: req.migrationPeers } : {}),
    ...(req.generationFloor !== undefined ? { generationFloor: req.generationFloor } : {}),
    ...(req.proxyJump ? { proxyJump: req.proxyJump } : {}),
    ...(req.proxyCommand ? { proxyCommand: req.proxyCommand } : {}),
    ...(req.diskPathAllow?.length ? { diskPathAllow: req.diskPathAllow } : {}),
  };
  const config = NodeConfigSchema.safeParse(candidate);
  return config.success ? { ok: true, config: config.data } : { ok: false, errors: formatIssues(config.error) };
}
