// What a node's Ganeti files say, read over the node's SFTP channel in one
// go: the ssconf files, the cluster's known_hosts and, on master candidates,
// config.data (all in /var/lib/ganeti), the installed version
// (/etc/ganeti/share -> /usr/share/ganeti/<v>, RELEASE_VERSION in its
// ganeti/_constants.py) and the node's host name. Every read is bounded.
// A node without ssconf files belongs to no cluster: it is standalone and
// everything else works as without Ganeti.
//
// config.data can be megabytes: it is kept per node and read again only
// when its size or mtime changed (or its mtime is too recent to tell a
// second write in the same second apart).
import type { NodeSession } from "../ssh/session.js";
import { NodeSftp, SFTP_STATUS, SftpError, type DirEntry } from "../on-node/sftp.js";
import { MAX_SSCONF_BYTES, SSCONF_KEYS, parseSsconf, type Ssconf, type SsconfKey } from "../../shared/ganeti/ssconf.js";
import { MAX_CONFIG_DATA_BYTES, parseConfigData, type ConfigData } from "../../shared/ganeti/config-data.js";
import { releaseVersionFromConstants, versionOfShareDir, type DetectedVersion } from "../../shared/ganeti/node-version.js";
import { normalizeRoot } from "../../shared/on-node/layout.js";

const READ_CHUNK = 256 * 1024;
const MAX_KNOWN_HOSTS_BYTES = 1024 * 1024;
/** RELEASE_VERSION is near the top of _constants.py (line 54 of 3.0.2's 190 KB). */
const CONSTANTS_HEAD_BYTES = 64 * 1024;
/** A config.data whose mtime is this recent may be written again within the same second (SFTP mtimes are whole seconds). */
const SETTLED_MS = 2_000;

export type GanetiNodeFiles =
  | { standalone: true; why: string; installed?: DetectedVersion }
  | {
      standalone: false;
      /** The node's own name (its kernel host name), to find it in the cluster. */
      hostname?: string;
      ssconf: Ssconf;
      knownHostsText: string | null;
      /** config.data, parsed; null on nodes that are not master candidates (or cannot read it: why). */
      config: ConfigData | null;
      configProblem?: string;
      installed?: DetectedVersion;
      installedProblem?: string;
    };

export class GanetiFilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GanetiFilesError";
  }
}

const joinUnder = (root: string, path: string) => (root === "/" ? path : `${root}${path}`);
const missing = (err: unknown) => err instanceof SftpError && err.status === SFTP_STATUS.NO_SUCH_FILE;

/** A whole file, refused when larger than `max` (checked on the handle and while reading). */
async function readBounded(sftp: NodeSftp, path: string, max: number, what: string): Promise<Buffer> {
  const handle = await sftp.open(path, "r");
  try {
    const st = await sftp.fstat(handle, path);
    if (st.size > max) throw new GanetiFilesError(`${what} (${path}) is ${st.size} bytes, more than the ${max} this app reads: it is not what Ganeti writes there. Inspect it on the node.`);
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = await sftp.read(handle, path, Math.min(READ_CHUNK, max + 1 - total), total);
      if (chunk.length === 0) break;
      total += chunk.length;
      if (total > max) throw new GanetiFilesError(`${what} (${path}) grew past ${max} bytes while being read; refusing it.`);
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  } finally {
    await sftp.close(handle, path).catch(() => undefined);
  }
}

/** The first `length` bytes of a file. */
async function readHead(sftp: NodeSftp, path: string, length: number): Promise<Buffer> {
  const handle = await sftp.open(path, "r");
  try {
    return await sftp.read(handle, path, length, 0);
  } finally {
    await sftp.close(handle, path).catch(() => undefined);
  }
}

function readlink(sftp: NodeSftp, path: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new GanetiFilesError(`SFTP readlink ${path} got no answer within ${timeoutMs} ms`)), timeoutMs);
    sftp.raw.readlink(path, (err, target) => {
      clearTimeout(timer);
      if (err) reject(Object.assign(new SftpError(`SFTP readlink ${path} failed: ${err.message}`, (err as { code?: number }).code, path)));
      else resolve(target);
    });
  });
}

/** /etc/ganeti/share -> /usr/share/ganeti/<v>: RELEASE_VERSION of the code installed there. */
async function installedVersion(sftp: NodeSftp, root: string): Promise<{ installed?: DetectedVersion; problem?: string }> {
  const link = joinUnder(root, "/etc/ganeti/share");
  let target: string;
  try {
    target = await readlink(sftp, link);
  } catch (err) {
    return { problem: `${link} cannot be read (${err instanceof Error ? err.message : String(err)}): the installed Ganeti is unknown` };
  }
  const share = target.startsWith("/") ? joinUnder(root, target) : `${joinUnder(root, "/etc/ganeti")}/${target}`;
  for (const file of ["ganeti/_constants.py", "ganeti/constants.py"]) {
    const path = `${share.replace(/\/+$/, "")}/${file}`;
    try {
      const v = releaseVersionFromConstants((await readHead(sftp, path, CONSTANTS_HEAD_BYTES)).toString("utf8"));
      if (v) return { installed: { version: v, source: "installed", from: `${path} (RELEASE_VERSION)` } };
    } catch (err) {
      if (!missing(err)) return { problem: `${path} cannot be read: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  const mm = versionOfShareDir(target);
  if (mm) return { installed: { version: `${mm}.0`, source: "installed", from: `${link} -> ${target} (major.minor only: RELEASE_VERSION not found; the patch level is taken as 0)` } };
  return { problem: `${link} points at ${target}, which holds no RELEASE_VERSION: the installed Ganeti is unknown` };
}

interface ConfigCacheEntry {
  size: number;
  mtime: number;
  readAt: number;
  config: ConfigData;
}

/** config.data per session, read again only when it changed. */
const configCache = new WeakMap<NodeSession, Map<string, ConfigCacheEntry>>();

async function readConfig(session: NodeSession, sftp: NodeSftp, path: string, entry: DirEntry | undefined): Promise<{ config: ConfigData | null; problem?: string }> {
  if (!entry) return { config: null, problem: `${path} is not on ${session.label}: it is not a master candidate (config.data is kept on master candidates only)` };
  let perSession = configCache.get(session);
  if (!perSession) configCache.set(session, (perSession = new Map()));
  const cached = perSession.get(path);
  const st = entry.stat;
  if (cached && st && cached.size === st.size && cached.mtime === st.mtime && cached.readAt - st.mtime * 1000 > SETTLED_MS) return { config: cached.config };
  const readAt = Date.now();
  try {
    const bytes = await readBounded(sftp, path, MAX_CONFIG_DATA_BYTES, "config.data");
    const config = parseConfigData(bytes.toString("utf8"));
    if (st) perSession.set(path, { size: st.size, mtime: st.mtime, readAt, config });
    return { config };
  } catch (err) {
    perSession.delete(path);
    const e = err as SftpError;
    const why = e instanceof SftpError && e.status === SFTP_STATUS.PERMISSION_DENIED ? `permission denied: connect as root (config.data is readable by root and Ganeti's daemons only)` : e.message;
    return { config: null, problem: `${path} on ${session.label} cannot be read: ${why}` };
  }
}

/** The ssconf keys that name the cluster's master and every node's addresses. */
export const MASTER_SSCONF_KEYS: readonly SsconfKey[] = ["cluster_name", "master_node", "master_ip", "node_list", "node_primary_ips", "node_secondary_ips"];

/**
 * Only the ssconf files `keys` names (a few small reads in parallel, no
 * config.data), parsed as Ganeti wrote them; null when the node has no
 * ssconf_master_node (it belongs to no cluster). Throws SsconfError when
 * the files are not what Ganeti writes.
 */
export async function readSsconf(session: NodeSession, root = "/", keys: readonly SsconfKey[] = MASTER_SSCONF_KEYS): Promise<Ssconf | null> {
  const dir = joinUnder(normalizeRoot(root), "/var/lib/ganeti");
  const sftp = await NodeSftp.for(session);
  const texts = await Promise.all(
    keys.map(async (k) => {
      try {
        return [k, (await readBounded(sftp, `${dir}/ssconf_${k}`, MAX_SSCONF_BYTES, `ssconf_${k}`)).toString("utf8")] as const;
      } catch (err) {
        if (missing(err)) return undefined;
        throw err;
      }
    }),
  );
  const files = Object.fromEntries(texts.filter((t) => t !== undefined));
  return files.master_node === undefined ? null : parseSsconf(files);
}

/** Everything the node's Ganeti files say, or that it is standalone. */
export async function readGanetiNodeFiles(session: NodeSession, root = "/"): Promise<GanetiNodeFiles> {
  const r = normalizeRoot(root);
  const dir = joinUnder(r, "/var/lib/ganeti");
  const sftp = await NodeSftp.for(session);
  const [entries, installed, hostname] = await Promise.all([
    sftp.readdir(dir).catch((err: unknown) => {
      if (missing(err)) return null;
      throw err;
    }),
    installedVersion(sftp, r),
    readHead(sftp, "/proc/sys/kernel/hostname", 256).then(
      (b) => b.toString("utf8").trim() || undefined,
      () => undefined,
    ),
  ]);
  const byName = new Map((entries ?? []).map((e) => [e.name, e]));
  if (!entries || !byName.has("ssconf_cluster_name")) {
    return { standalone: true, why: `${dir}/ssconf_cluster_name is not on ${session.label}: the node belongs to no Ganeti cluster`, ...(installed.installed ? { installed: installed.installed } : {}) };
  }
  const wanted = SSCONF_KEYS.filter((k) => byName.has(`ssconf_${k}`));
  const [texts, knownHostsText, config] = await Promise.all([
    Promise.all(wanted.map(async (k) => [k, (await readBounded(sftp, `${dir}/ssconf_${k}`, MAX_SSCONF_BYTES, `ssconf_${k}`)).toString("utf8")] as const)),
    byName.has("known_hosts") ? readBounded(sftp, `${dir}/known_hosts`, MAX_KNOWN_HOSTS_BYTES, "the cluster's known_hosts").then((b) => b.toString("utf8")) : Promise.resolve(null),
    readConfig(session, sftp, `${dir}/config.data`, byName.get("config.data")),
  ]);
  return {
    standalone: false,
    ...(hostname ? { hostname } : {}),
    ssconf: parseSsconf(Object.fromEntries(texts)),
    knownHostsText,
    config: config.config,
    ...(config.problem ? { configProblem: config.problem } : {}),
    ...(installed.installed ? { installed: installed.installed } : {}),
    ...(installed.problem ? { installedProblem: installed.problem } : {}),
  };
}
