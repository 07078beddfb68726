// Node settings on this computer: <dataDir>/nodes.json (the node list) and
// <dataDir>/known_hosts (host keys the user trusted in this app). The user's
// ~/.ssh/known_hosts is read too, never written.
//
// Secrets are never stored here. The schema has no password or passphrase
// field and refuses one. A key file's passphrase is asked for when the node
// connects and kept by electron/app/passphrase-store.ts (memory; the OS
// keychain only where safeStorage can encrypt), or the key is used through
// ssh-agent (`ssh-add ~/.ssh/id_ed25519`, then agent authentication).
import { appendFile, mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { NodesFileSchema, formatIssues, type NodeConfig } from "../../shared/node-registry/schema.js";

export interface SettingsStoreOptions {
  /** Electron's userData in the app; a temp dir in tests. */
  dataDir: string;
  /** The user's OpenSSH known_hosts (read-only). Default ~/.ssh/known_hosts; null to ignore it. */
  userKnownHostsPath?: string | null;
}

export interface CorruptSettings {
  /** Where the unreadable file was moved so nothing is lost. */
  movedTo: string;
  reasons: string[];
}

export interface LoadResult {
  nodes: NodeConfig[];
  /** Set when nodes.json could not be used; the app must tell the user. */
  corrupt?: CorruptSettings;
}

export interface KnownHostsSource {
  path: string;
  text: string;
}

const NODES_FILE = "nodes.json";
const KNOWN_HOSTS_FILE = "known_hosts";

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Temp file in the same directory, fsync, rename over: readers see old or new, never half. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(tmp, "wx", 0o600);
  try {
    await handle.writeFile(data, "utf8");
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export class SettingsStore {
  readonly dataDir: string;
  readonly nodesPath: string;
  /** The app's own known_hosts; trustHostKey appends here. */
  readonly knownHostsPath: string;
  readonly userKnownHostsPath: string | null;
  // Saves run one after another so an older list never lands after a newer one.
  private saving: Promise<void> = Promise.resolve();

  constructor(options: SettingsStoreOptions) {
    this.dataDir = options.dataDir;
    this.nodesPath = join(options.dataDir, NODES_FILE);
    this.knownHostsPath = join(options.dataDir, KNOWN_HOSTS_FILE);
    this.userKnownHostsPath = options.userKnownHostsPath === undefined ? join(homedir(), ".ssh", "known_hosts") : options.userKnownHostsPath;
  }

  /**
   * Reads nodes.json. A missing file is an empty list. A file that is not
   * valid JSON or fails validation is renamed to nodes.json.corrupt-<time>
   * and reported; the app then starts with no nodes rather than guessing.
   */
  async load(): Promise<LoadResult> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    await this.removeStaleTempFiles();
    const text = await readIfExists(this.nodesPath);
    if (text === undefined) return { nodes: [] };
    let reasons: string[];
    try {
      const parsed = NodesFileSchema.safeParse(JSON.parse(text));
      if (parsed.success) return { nodes: parsed.data.nodes };
      reasons = formatIssues(parsed.error);
    } catch (err) {
      reasons = [`not valid JSON: ${(err as Error).message}`];
    }
    const movedTo = `${this.nodesPath}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    await rename(this.nodesPath, movedTo);
    return { nodes: [], corrupt: { movedTo, reasons } };
  }

  /** Temp files a crash left behind (half-written nodes.json; per-attempt known_hosts copies made by earlier builds). */
  private async removeStaleTempFiles(): Promise<void> {
    for (const name of await readdir(this.dataDir)) {
      if (/^(nodes\.json\.\d+\.[0-9a-f]+\.tmp|\.known_hosts\..+\.tmp)$/.test(name)) await unlink(join(this.dataDir, name)).catch(() => undefined);
    }
  }

  save(nodes: readonly NodeConfig[]): Promise<void> {
    // Validate before writing so a bad list never reaches disk.
    const file = NodesFileSchema.parse({ version: 1, nodes });
    const run = async () => {
      await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.nodesPath, `${JSON.stringify(file, null, 2)}\n`);
    };
    const next = this.saving.then(run, run);
    this.saving = next.catch(() => undefined);
    return next;
  }

  /** The app's known_hosts first, then the user's (absent files read as empty). */
  async knownHostsSources(): Promise<KnownHostsSource[]> {
    const sources: KnownHostsSource[] = [{ path: this.knownHostsPath, text: (await readIfExists(this.knownHostsPath)) ?? "" }];
    if (this.userKnownHostsPath !== null) {
      sources.push({ path: this.userKnownHostsPath, text: (await readIfExists(this.userKnownHostsPath)) ?? "" });
    }
    return sources;
  }

  /** Appends one known_hosts line (as OpenSSH does), creating the file 0600. */
  async appendKnownHost(line: string): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const existing = (await readIfExists(this.knownHostsPath)) ?? "";
    const sep = existing === "" || existing.endsWith("\n") ? "" : "\n";
    await appendFile(this.knownHostsPath, `${sep}${line.endsWith("\n") ? line : `${line}\n`}`, { mode: 0o600 });
  }
}
