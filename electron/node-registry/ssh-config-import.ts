// Offers the hosts in ~/.ssh/config as nodes to add. Only concrete `Host`
// names are offered (wildcard patterns are defaults, not machines). `Match`
// blocks are ignored, and never evaluated: `Match exec` would run a shell
// command. ProxyJump (aliases resolved) and ProxyCommand come along; a
// ProxyCommand that needs a shell (pipes, $VAR) is listed as unsupported.
import { readFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import SSHConfig, { LineType, type Line, type Section } from "ssh-config";
import { UserSchema, isValidHost, type AddNodeRequest } from "../../shared/node-registry/schema.js";
import { parseProxyCommand, parseProxyJump } from "../../shared/node-registry/proxy.js";

export interface SshConfigCandidate {
  /** The Host name as written in the config. */
  alias: string;
  name: string;
  /** HostName, or the alias when there is none. */
  host: string;
  port: number;
  user?: string;
  /** First IdentityFile, "~" and tokens expanded; absent means ssh-agent. */
  keyPath?: string;
  /** Things the user should know about this entry (ignored settings). */
  notes: string[];
  /** ProxyJump with config aliases resolved to user@host:port. */
  proxyJump?: string;
  /** ProxyCommand as written (run without a shell; %-tokens expanded when connecting). */
  proxyCommand?: string;
}

export interface UnsupportedSshHost {
  alias: string;
  reason: string;
}

export interface SshConfigImport {
  path: string;
  /** False when the file does not exist (not an error: many users have none). */
  found: boolean;
  candidates: SshConfigCandidate[];
  unsupported: UnsupportedSshHost[];
  /** File-level remarks: Match blocks and Include lines that were skipped. */
  warnings: string[];
}

export interface SshConfigContext {
  homeDir: string;
  localUser: string;
}

// compute() would resolve these with nslookup; we offer names as written.
const DROPPED = /^(canonicalizehostname|canonicaldomains)$/i;

function values(line: Line): string[] {
  if (line.type !== LineType.DIRECTIVE) return [];
  const v = line.value;
  return typeof v === "string" ? v.split(/\s+/).filter(Boolean) : v.map((x) => x.val);
}

function isSection(line: Line): line is Section {
  return line.type === LineType.DIRECTIVE && "config" in line;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** OpenSSH-style %-tokens we can expand here; undefined if others remain. */
function expandTokens(value: string, tokens: Record<string, string>): string | undefined {
  let unknown = false;
  const out = value.replace(/%(.)/g, (_m, t: string) => {
    if (t === "%") return "%";
    const v = tokens[t];
    if (v === undefined) unknown = true;
    return v ?? "";
  });
  return unknown ? undefined : out;
}

function expandTilde(path: string, homeDir: string): string {
  if (path === "~") return homeDir;
  if (path.startsWith("~/")) return join(homeDir, path.slice(2));
  return path;
}

/** A copy of the parsed config without Match blocks and without settings that trigger lookups. */
function sanitized(parsed: SSHConfig): SSHConfig {
  const keep = (lines: Iterable<Line>): SSHConfig => {
    const out = new SSHConfig();
    for (const line of lines) {
      if (line.type !== LineType.DIRECTIVE) continue;
      if (/^match$/i.test(line.param) || DROPPED.test(line.param)) continue;
      out.push(isSection(line) ? { ...line, config: keep(line.config) } : line);
    }
    return out;
  };
  return keep(parsed);
}

export function candidatesFromSshConfig(text: string, path: string, ctx: SshConfigContext): Omit<SshConfigImport, "found"> {
  const result: Omit<SshConfigImport, "found"> = { path, candidates: [], unsupported: [], warnings: [] };
  let parsed: SSHConfig;
  try {
    parsed = SSHConfig.parse(text);
  } catch (err) {
    result.warnings.push(`${path} could not be read as an ssh config (${(err as Error).message}); fix the file or add nodes by hand.`);
    return result;
  }

  const aliases: string[] = [];
  for (const line of parsed) {
    if (line.type !== LineType.DIRECTIVE) continue;
    if (/^match$/i.test(line.param)) {
      result.warnings.push(`"Match ${values(line).join(" ")}" block ignored: only Host entries are imported.`);
    } else if (/^include$/i.test(line.param)) {
      result.warnings.push(`"Include ${values(line).join(" ")}" is not followed: hosts in included files are not offered; add them by hand.`);
    } else if (/^host$/i.test(line.param)) {
      for (const pattern of values(line)) {
        // Wildcards and negations describe defaults, not a machine to connect to.
        if (/[*?!]/.test(pattern) || aliases.includes(pattern)) continue;
        aliases.push(pattern);
      }
    }
  }

  const config = sanitized(parsed);
  for (const alias of aliases) {
    const c = config.compute(alias, { ignoreCase: true, matchExec: false });
    const unsupported = (reason: string) => result.unsupported.push({ alias, reason });

    // OpenSSH uses whichever of ProxyJump and ProxyCommand comes first; compute() keeps the first of each.
    let route: { proxyJump: string } | { proxyCommand: string } | undefined;
    const jumpText = first(c.proxyjump);
    const commandText = first(c.proxycommand);
    if (jumpText && jumpText.toLowerCase() !== "none") {
      const resolved = resolveJumpHosts(jumpText, config, ctx);
      if ("error" in resolved) {
        unsupported(resolved.error);
        continue;
      }
      route = { proxyJump: resolved.proxyJump };
    } else if (commandText && commandText.toLowerCase() !== "none") {
      const parsed = parseProxyCommand(commandText);
      if (!parsed.ok) {
        unsupported(`ProxyCommand ${commandText}: ${parsed.error}`);
        continue;
      }
      route = { proxyCommand: commandText };
    }

    const hostName = first(c.hostname);
    const host = hostName === undefined ? alias : expandTokens(hostName, { h: alias });
    if (host === undefined || !isValidHost(host)) {
      unsupported(`HostName ${hostName ?? alias} is not a host name or IP address we can use; add the node by hand.`);
      continue;
    }

    const portText = first(c.port);
    const port = portText === undefined ? 22 : Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      unsupported(`Port ${portText} is not a port number from 1 to 65535; fix it in ${path}.`);
      continue;
    }

    const candidate: SshConfigCandidate = { alias, name: alias, host, port, notes: [], ...route };
    const userText = first(c.user);
    if (userText !== undefined) {
      const user = expandTokens(userText, { u: ctx.localUser });
      if (user !== undefined && UserSchema.safeParse(user).success) candidate.user = user;
      else candidate.notes.push(`User ${userText} is not a plain login name; enter the user yourself.`);
    }

    const identity = first(c.identityfile);
    if (identity !== undefined && identity.toLowerCase() !== "none") {
      const expanded = expandTokens(expandTilde(identity, ctx.homeDir), { d: ctx.homeDir, u: ctx.localUser, h: host, r: candidate.user ?? ctx.localUser });
      if (expanded === undefined) candidate.notes.push(`IdentityFile ${identity} uses %-tokens we do not expand; choose the key file yourself.`);
      else if (!expanded.startsWith("/")) candidate.notes.push(`IdentityFile ${identity} is a relative path; choose the key file yourself.`);
      else candidate.keyPath = expanded;
      const more = Array.isArray(c.identityfile) ? c.identityfile.length - 1 : 0;
      if (more > 0) candidate.notes.push(`${more} more IdentityFile line(s) ignored: only the first key is used.`);
    }
    if (candidate.keyPath === undefined) candidate.notes.push("No usable IdentityFile: ssh-agent will be used.");
    result.candidates.push(candidate);
  }
  return result;
}

/**
 * ProxyJump hops as OpenSSH resolves them: a hop that names a Host entry
 * takes that entry's HostName, User and Port (unless the hop gives them).
 */
function resolveJumpHosts(text: string, config: SSHConfig, ctx: SshConfigContext): { proxyJump: string } | { error: string } {
  const parsed = parseProxyJump(text);
  if (!parsed.ok) return { error: `ProxyJump ${text}: ${parsed.error}` };
  const hops = text.split(",").map((raw, i) => {
    const hop = parsed.value[i]!;
    const c = config.compute(hop.host, { ignoreCase: true, matchExec: false });
    const hostName = first(c.hostname);
    const host = hostName !== undefined ? (expandTokens(hostName, { h: hop.host }) ?? hop.host) : hop.host;
    const userText = hop.user ?? first(c.user);
    const user = userText !== undefined ? expandTokens(userText, { u: ctx.localUser }) : undefined;
    const port = /:\d+$/.test(raw.trim()) ? hop.port : Number(first(c.port) ?? hop.port);
    return `${user ? `${user}@` : ""}${host.includes(":") ? `[${host}]` : host}:${port}`;
  });
  const check = parseProxyJump(hops.join(","));
  return check.ok ? { proxyJump: hops.join(",") } : { error: `ProxyJump ${text} resolves to ${hops.join(",")}: ${check.error}` };
}

/** Reads the user's ssh config (default ~/.ssh/config). A missing file yields no candidates. */
export async function importSshConfig(options: { path?: string } & Partial<SshConfigContext> = {}): Promise<SshConfigImport> {
  const homeDir = options.homeDir ?? homedir();
  const path = options.path ?? join(homeDir, ".ssh", "config");
  const localUser = options.localUser ?? userInfo().username;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { path, found: false, candidates: [], unsupported: [], warnings: [] };
    throw new Error(`Cannot read ${path}: ${(err as Error).message}. Check its permissions or add nodes by hand.`);
  }
  return { found: true, ...candidatesFromSshConfig(text, path, { homeDir, localUser }) };
}

/** The add-node form filled from a candidate (user may still edit it). */
export function candidateToRequest(c: SshConfigCandidate): AddNodeRequest {
  return {
    host: c.host,
    port: c.port,
    name: c.name,
    ...(c.user !== undefined ? { user: c.user } : {}),
    ...(c.keyPath !== undefined ? { keyPath: c.keyPath } : { agent: true }),
    ...(c.proxyJump !== undefined ? { proxyJump: c.proxyJump } : {}),
    ...(c.proxyCommand !== undefined ? { proxyCommand: c.proxyCommand } : {}),
  };
}
