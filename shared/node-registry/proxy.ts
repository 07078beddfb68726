// OpenSSH's two ways of reaching a node behind something, as the app
// understands them. Pure: parsing and token expansion only.
//
// ProxyCommand: OpenSSH hands the line to a shell. We never do: the line is
// split into an argument vector (shell-quote, quotes and backslashes as a
// shell reads them) and anything that needs a shell to mean what it says
// (pipes, redirections, ;, &&, $VAR, globs, comments) is refused with the
// way out. %h %p %r %n and %% are expanded per argument, after splitting,
// so a host name can never add an argument.
//
// ProxyJump: "[user@]host[:port]" or "ssh://[user@]host[:port]", several
// separated by commas, hops in order.
import { parse } from "shell-quote";
import { USER_RE, isValidHost, splitHostInput } from "./host.js";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** The tokens OpenSSH expands in ProxyCommand that we know the value of. */
export interface ProxyTokens {
  /** %h: the node's host name or address (HostName). */
  host: string;
  /** %p: its port. */
  port: number;
  /** %r: the remote user. */
  user: string;
  /** %n: the name as given before HostName applied (the ssh config alias); the host when there is none. */
  alias?: string;
}

const TOKENS = new Set(["h", "p", "r", "n", "%"]);

export function parseProxyCommand(text: string): Parsed<string[]> {
  const line = text.trim();
  if (line === "") return { ok: false, error: "proxyCommand is empty: leave it out to connect directly" };
  if (/^none$/i.test(line)) return { ok: false, error: 'proxyCommand "none" means no proxy: leave it out instead' };
  const vars: string[] = [];
  let tokens: ReturnType<typeof parse>;
  try {
    tokens = parse(line, (key) => {
      vars.push(key);
      return `$${key}`;
    });
  } catch (err) {
    return { ok: false, error: `proxyCommand cannot be split into arguments (${(err as Error).message}): check its quotes` };
  }
  const shellOnly = (what: string) => ({
    ok: false as const,
    error: `proxyCommand uses ${what}, which needs a shell; the app runs the command itself, without one. Write it as one command with its arguments (e.g. ssh -W %h:%p bastion), or put the pipeline in a script and name the script.`,
  });
  if (vars.length > 0) return shellOnly(`the variable $${vars[0]}`);
  const argv: string[] = [];
  for (const t of tokens) {
    if (typeof t === "string") argv.push(t);
    else if ("comment" in t) return shellOnly(`a comment (#${t.comment})`);
    else if ("pattern" in t) return shellOnly(`the wildcard ${t.pattern}`);
    else if ("op" in t) return shellOnly(`"${String(t.op)}"`);
    else return shellOnly("shell syntax");
  }
  if (argv.length === 0) return { ok: false, error: "proxyCommand names no program" };
  for (const a of argv) {
    for (const m of a.matchAll(/%(.?)/g)) {
      if (!TOKENS.has(m[1] ?? "")) return { ok: false, error: `proxyCommand uses %${m[1] ?? ""}, which the app does not expand: only %h, %p, %r, %n and %% are known` };
    }
  }
  return { ok: true, value: argv };
}

/** The argument vector with %h %p %r %n %% expanded, per argument. */
export function expandProxyCommand(argv: readonly string[], t: ProxyTokens): string[] {
  const values: Record<string, string> = { h: t.host, p: String(t.port), r: t.user, n: t.alias ?? t.host, "%": "%" };
  return argv.map((a) => a.replace(/%(.)/g, (_m, k: string) => values[k] ?? `%${k}`));
}

export interface JumpHost {
  host: string;
  port: number;
  /** Absent: the node's own user. */
  user?: string;
}

export function parseProxyJump(text: string): Parsed<JumpHost[]> {
  const line = text.trim();
  if (line === "") return { ok: false, error: "proxyJump is empty: leave it out to connect directly" };
  if (/^none$/i.test(line)) return { ok: false, error: 'proxyJump "none" means no jump host: leave it out instead' };
  const hops: JumpHost[] = [];
  for (const raw of line.split(",")) {
    const spec = raw.trim().replace(/^ssh:\/\//, "").replace(/\/$/, "");
    const fix = (why: string) => ({ ok: false as const, error: `proxyJump "${raw.trim()}": ${why} (write [user@]host[:port], several separated by commas)` });
    if (spec === "") return fix("an empty hop");
    const { host, user, port } = splitHostInput(spec);
    if (!isValidHost(host)) return fix(`"${host}" is not a host name or IP address`);
    if (user !== undefined && !USER_RE.test(user)) return fix(`"${user}" is not a login name`);
    const portNo = port === undefined ? 22 : Number(port);
    if (!/^\d{1,5}$/.test(port ?? "22") || portNo < 1 || portNo > 65535) return fix(`"${port}" is not a port from 1 to 65535`);
    hops.push({ host, port: portNo, ...(user !== undefined ? { user } : {}) });
  }
  return { ok: true, value: hops };
}
