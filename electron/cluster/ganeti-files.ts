// What a node's Ganeti files say, read over the node's SFTP channel in one
// go: the ssconf files, the cluster's known_hosts and, on master candidates,
// config.data (all in /var/lib/ganeti), the installed version
// (/etc/ganeti/share -> /usr/share/ganeti/<v>, RELEASE_VERSION in its
// ganeti/_constants.py) and the node's host name. Every read is bounded.
// A node without ssconf files belongs to no cluster: it is standalone and
// everything else works as without Ganeti.
//
// What was read is kept per connection and read again only when the
// files' sizes or mtimes changed (or their mtimes are too recent to tell a
// second write in the same second apart): config.data can be megabytes,
// and the app reads these files on every inventory. config.data is parsed
// once per content for all the nodes that hold it.
import { createHash } from "node:crypto";
import type { NodeSession } from "../ssh/session.js";
import { NodeSftp, SFTP_STATUS, SftpError, type DirEntry, type RemoteStat } from "../on-node/sftp.js";
import { MAX_SSCONF_BYTES, SSCONF_KEYS, parseSsconf, type Ssconf, type SsconfKey } from "../../shared/ganeti/ssconf.js";
import { MAX_CONFIG_DATA_BYTES, parseConfigData, type ConfigData } from "../../shared/ganeti/config-data.js";
import { releaseVersionFromConstants, versionOfShareDir, type DetectedVersion } from "../../shared/ganeti/node-version.js";
import { normalizeRoot } from "../../shared/on-node/layout.js";

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

/**
 * A whole file, refused when larger than `max` (checked on its size, and
 * while reading). The size is the directory listing's when there is one
 * (the read finds the end itself), else the open file's.
 */
async function readBounded(sftp: NodeSftp, path: string, max: number, what: string, listed?: DirEntry): Promise<Buffer> {
  const handle = await sftp.open(path, "r");
  try {
    const size = listed?.stat?.size ?? (await sftp.fstat(handle, path)).size;
    if (size > max) throw new GanetiFilesError(`${what} (${path}) is ${size} bytes, more than the ${max} this app reads: it is not what Ganeti writes there. Inspect it on the node.`);
    return await sftp.readToEnd(handle, path, size, max, () => new GanetiFilesError(`${what} (${path}) grew past ${max} bytes while being read; refusing it.`));
  } finally {
    // Not waited for: the server handles requests in order.
    void sftp.close(handle, path).catch(() => undefined);
  }
}

/** The first `length` bytes of a file. */
async function readHead(sftp: NodeSftp, path: string, length: number): Promise<Buffer> {
  const handle = await sftp.open(path, "r");
  try {
    return await sftp.read(handle, path, length, 0);
  } finally {
    void sftp.close(handle, path).catch(() => undefined);
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

/**
 * What was read on a session, kept with the stamp (sizes and mtimes) of the
 * files it came from: reused while the stamp is the same and the files'
 * mtimes were already SETTLED_MS old when they were read (SFTP mtimes are
 * whole seconds: a file rewritten within the same second keeps its stamp).
 */
interface Stamped {
  stamp: string;
  /** When the read started, and the newest mtime (seconds) among its files. */
  readAt: number;
  newestMtime: number;
  value: unknown;
}
const readCache = new WeakMap<NodeSession, Map<string, Stamped>>();

function stampOf(stats: readonly (RemoteStat | undefined)[]): { stamp: string; newestMtime: number } | undefined {
  if (stats.some((s) => s === undefined)) return undefined;
  const all = stats as RemoteStat[];
  return { stamp: all.map((s) => `${s.size}:${s.mtime}`).join(","), newestMtime: Math.max(0, ...all.map((s) => s.mtime)) };
}

/** `read()`'s value, or what an earlier read under the same stamp gave. */
async function readStamped<T>(session: NodeSession, key: string, stamp: { stamp: string; newestMtime: number } | undefined, read: () => Promise<T>): Promise<T> {
  let perSession = readCache.get(session);
  if (!perSession) readCache.set(session, (perSession = new Map()));
  const hit = perSession.get(key);
  if (hit && stamp && hit.stamp === stamp.stamp && hit.readAt - hit.newestMtime * 1000 > SETTLED_MS) return hit.value as T;
  const readAt = Date.now();
  perSession.delete(key);
  const value = await read();
  if (stamp) perSession.set(key, { ...stamp, readAt, value });
  return value;
}

/** /etc/ganeti/share -> /usr/share/ganeti/<v>: RELEASE_VERSION of the code installed there. */
async function installedVersion(session: NodeSession, sftp: NodeSftp, root: string): Promise<{ installed?: DetectedVersion; problem?: string }> {
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
      // Stat first: the file is read again only when it changed (a package upgrade within the same major.minor).
      const st = await sftp.stat(path);
      const v = await readStamped(session, `constants ${path}`, stampOf([st]), async () => releaseVersionFromConstants((await readHead(sftp, path, CONSTANTS_HEAD_BYTES)).toString("utf8")));
      if (v) return { installed: { version: v, source: "installed", from: `${path} (RELEASE_VERSION)` } };
    } catch (err) {
      if (!missing(err)) return { problem: `${path} cannot be read: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  const mm = versionOfShareDir(target);
  if (mm) return { installed: { version: `${mm}.0`, source: "installed", from: `${link} -> ${target} (major.minor only: RELEASE_VERSION not found; the patch level is taken as 0)` } };
  return { problem: `${link} points at ${target}, which holds no RELEASE_VERSION: the installed Ganeti is unknown` };
}

/**
 * config.data parsed, by its digest: the master candidates of a cluster hold
 * the same file, and one parse serves them all. A few are kept (one per
 * cluster, and a newer version while the older is still in use).
 */
const parsedConfigs = new Map<string, ConfigData>();
const PARSED_CONFIGS_KEPT = 4;

function parseConfigShared(bytes: Buffer): ConfigData {
  const digest = createHash("sha256").update(bytes).digest("hex");
  const hit = parsedConfigs.get(digest);
  if (hit) return hit;
  const config = parseConfigData(bytes.toString("utf8"));
  parsedConfigs.set(digest, config);
  for (const k of parsedConfigs.keys()) if (parsedConfigs.size > PARSED_CONFIGS_KEPT) parsedConfigs.delete(k);
  return config;
}

/** config.data, read again only when it changed. */
async function readConfig(session: NodeSession, sftp: NodeSftp, path: string, entry: DirEntry | undefined): Promise<{ config: ConfigData | null; problem?: string }> {
  if (!entry) return { config: null, problem: `${path} is not on ${session.label}: it is not a master candidate (config.data is kept on master candidates only)` };
  try {
    const config = await readStamped(session, `config ${path}`, stampOf([entry.stat]), async () => parseConfigShared(await readBounded(sftp, path, MAX_CONFIG_DATA_BYTES, "config.data", entry)));
    return { config };
  } catch (err) {
    const e = err as SftpError;
    const why = e instanceof SftpError && e.status === SFTP_STATUS.PERMISSION_DENIED ? `permission denied: connect as root (config.data is readable by root and Ganeti's daemons only)` : e.message;
    return { config: null, problem: `${path} on ${session.label} cannot be read: ${why}` };
  }
}

/** config.data as it is now on a master candidate, read and parsed afresh (no cache): for a change that must see what a job just recorded. */
export async function readConfigDataNow(session: NodeSession, root = "/"): Promise<ConfigData> {
  const sftp = await NodeSftp.for(session);
  return parseConfigData((await readBounded(sftp, joinUnder(normalizeRoot(root), "/var/lib/ganeti/config.data"), MAX_CONFIG_DATA_BYTES, "config.data")).toString("utf8"));
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
    installedVersion(session, sftp, r),
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
  // ssconf and known_hosts are read again only when one of them changed (the listing carries their sizes and mtimes).
  const files = [...wanted.map((k) => `ssconf_${k}`), ...(byName.has("known_hosts") ? ["known_hosts"] : [])];
  const readSsconf = async () => {
    const [texts, knownHostsText] = await Promise.all([
      Promise.all(wanted.map(async (k) => [k, (await readBounded(sftp, `${dir}/ssconf_${k}`, MAX_SSCONF_BYTES, `ssconf_${k}`, byName.get(`ssconf_${k}`))).toString("utf8")] as const)),
      byName.has("known_hosts") ? readBounded(sftp, `${dir}/known_hosts`, MAX_KNOWN_HOSTS_BYTES, "the cluster's known_hosts", byName.get("known_hosts")).then((b) => b.toString("utf8")) : Promise.resolve(null),
    ]);
    return { ssconf: parseSsconf(Object.fromEntries(texts)), knownHostsText };
  };
  const [{ ssconf, knownHostsText }, config] = await Promise.all([
    readStamped(session, `ssconf ${dir} ${files.join(" ")}`, stampOf(files.map((f) => byName.get(f)?.stat)), readSsconf),
    readConfig(session, sftp, `${dir}/config.data`, byName.get("config.data")),
  ]);
  return {
    standalone: false,
    ...(hostname ? { hostname } : {}),
    ssconf,
    knownHostsText,
    config: config.config,
    ...(config.problem ? { configProblem: config.problem } : {}),
    ...(installed.installed ? { installed: installed.installed } : {}),
    ...(installed.problem ? { installedProblem: installed.problem } : {}),
  };
}
