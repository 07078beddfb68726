// Passphrases of encrypted SSH key files, per node. Always kept in memory for
// this run of the app; kept across runs only through a persistent backend
// that encrypts with the OS keychain (Electron safeStorage, see
// electron/main/secrets.ts), and only when that backend says it can. There
// is no plain-text fallback: without a backend (the web host) or with one
// that is unavailable (Linux without a secret service), a passphrase is
// remembered until the app quits and no longer.
//
// Passphrases are handed to the node manager (which gives them to ssh2) and
// to the backend, nothing else: no method returns one to a caller that could
// put it into a status, an event, an activity entry or a log line.
import type { PassphraseProvider } from "../node-registry/node-manager.js";

export type BackendAvailability = { ok: true } | { ok: false; reason: string };

/** Where remembered passphrases live between runs: encrypted, never plain text. */
export interface PersistentSecretBackend {
  available(): Promise<BackendAvailability>;
  get(nodeId: string): Promise<string | undefined>;
  set(nodeId: string, secret: string): Promise<void>;
  delete(nodeId: string): Promise<void>;
}

/** What became of a request to remember a passphrase across runs. */
export type RememberOutcome = { remembered: true } | { remembered: false; reason: string };

/** Said when there is no keychain backend at all (the web host). */
export const MEMORY_ONLY_REASON = "This app keeps passphrases in memory only: they are remembered until the app quits.";

export class PassphraseStore implements PassphraseProvider {
  private readonly memory = new Map<string, string>();
  /** Bumped per node on set/forget so a slow keychain read cannot undo them. */
  private readonly generation = new Map<string, number>();

  constructor(
    private readonly backend?: PersistentSecretBackend,
    /** How long to wait for the keychain to say whether it can encrypt. */
    private readonly availabilityTimeoutMs = 5_000,
  ) {}

  /** Whether passphrases can be remembered across runs, and if not why. */
  async availability(): Promise<BackendAvailability> {
    if (!this.backend) return { ok: false, reason: MEMORY_ONLY_REASON };
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A keychain that never answers must not hold up app.info or a connection.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(this.availabilityTimeoutMs / 1000)} s`)), this.availabilityTimeoutMs);
      });
      return await Promise.race([this.backend.available(), late]);
    } catch (err) {
      return { ok: false, reason: `The system keychain cannot be used (${errorText(err)}); passphrases are remembered until the app quits.` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The node's passphrase: this run's, else the one remembered in the keychain. */
  async get(nodeId: string): Promise<string | undefined> {
    const inMemory = this.memory.get(nodeId);
    if (inMemory !== undefined) return inMemory;
    if (!this.backend) return undefined;
    const gen = this.generation.get(nodeId) ?? 0;
    let stored: string | undefined;
    try {
      if ((await this.availability()).ok) stored = await this.backend.get(nodeId);
    } catch {
      // Undecryptable (keychain reset, another user): as if nothing were remembered.
      stored = undefined;
    }
    // set() or forget() ran while the keychain was read: they win.
    if ((this.generation.get(nodeId) ?? 0) !== gen) return this.memory.get(nodeId);
    if (stored === undefined || stored === "") return undefined;
    this.memory.set(nodeId, stored);
    return stored;
  }

  /**
   * Keeps the passphrase for this run and, when asked, in the keychain.
   * Remembering is refused (not an error) where the keychain is unavailable;
   * the outcome says why. Asked not to remember, any remembered one is dropped.
   */
  async set(nodeId: string, passphrase: string, opts: { remember: boolean }): Promise<RememberOutcome> {
    this.bump(nodeId);
    this.memory.set(nodeId, passphrase);
    if (!opts.remember) {
      const reason = "Not asked to remember it: it is kept until the app quits.";
      try {
        await this.deleteRemembered(nodeId);
      } catch (err) {
        return { remembered: false, reason: `${reason} A passphrase remembered earlier could not be removed from the keychain (${errorText(err)}).` };
      }
      return { remembered: false, reason };
    }
    const availability = await this.availability();
    if (!availability.ok) return { remembered: false, reason: availability.reason };
    try {
      await this.backend!.set(nodeId, passphrase);
      return { remembered: true };
    } catch (err) {
      return { remembered: false, reason: `The system keychain refused it (${errorText(err)}); it is kept until the app quits.` };
    }
  }

  /** Forgets the node's passphrase, in memory and in the keychain (rejects when the keychain file cannot be changed). */
  async forget(nodeId: string): Promise<void> {
    this.bump(nodeId);
    this.memory.delete(nodeId);
    await this.deleteRemembered(nodeId);
  }

  /** The node manager found that `passphrase` does not open the key: drop it wherever it is kept. */
  async rejected(nodeId: string, passphrase: string): Promise<void> {
    // A newer passphrase entered meanwhile is not the one that failed.
    if (this.memory.get(nodeId) !== passphrase) return;
    await this.forget(nodeId).catch(() => undefined);
  }

  /** Whether a passphrase is known for the node in this run (for tests and status). */
  knows(nodeId: string): boolean {
    return this.memory.has(nodeId);
  }

  /** Drops everything kept in memory (at shutdown). The keychain keeps what it holds. */
  clear(): void {
    for (const id of this.memory.keys()) this.bump(id);
    this.memory.clear();
  }

  private bump(nodeId: string): void {
    this.generation.set(nodeId, (this.generation.get(nodeId) ?? 0) + 1);
  }

  private async deleteRemembered(nodeId: string): Promise<void> {
    await this.backend?.delete(nodeId);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
