// Secrets (an SSH key passphrase the user asked us to remember) are kept
// only encrypted with the OS keychain via safeStorage, never in plain text.
// Where the OS has no secret store (Linux "basic_text", where Chromium would
// encrypt with a hard-coded password), we refuse to remember anything and
// say so: the passphrase is then kept for this run only.
//
// Electron 45's async API is used (the sync one is deprecated). safeStorage
// is passed in rather than imported, so this file holds no Electron import
// and the file handling can be tested in Node with a stand-in.
import type { SafeStorage } from "electron";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { BackendAvailability, PersistentSecretBackend } from "../app/passphrase-store.js";
import { writeFileAtomic } from "../node-registry/settings-store.js";

/** The part of Electron's safeStorage this store uses. */
export type SafeStorageLike = Pick<SafeStorage, "isAsyncEncryptionAvailable" | "encryptStringAsync" | "decryptStringAsync" | "getSelectedStorageBackend">;

/** key → base64 of the safeStorage ciphertext. */
const SecretsFileSchema = z.record(z.string(), z.string());

export const SECRETS_FILE = "secrets.bin.json";

export class SecretStore implements PersistentSecretBackend {
  // Writes run one after another so none is lost to a concurrent read-modify-write.
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly storage: SafeStorageLike,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  private get file(): string {
    return join(this.dataDir, SECRETS_FILE);
  }

  async available(): Promise<BackendAvailability> {
    if (!(await this.storage.isAsyncEncryptionAvailable())) {
      return { ok: false, reason: "The OS offers no keychain encryption to this app, so the passphrase is remembered until the app quits (or load the key into ssh-agent)." };
    }
    if (this.platform === "linux" && this.storage.getSelectedStorageBackend() === "basic_text") {
      return {
        ok: false,
        reason: "No secret service (GNOME Keyring, KWallet) is running, so the passphrase could not be stored safely: it is remembered until the app quits (or load the key into ssh-agent).",
      };
    }
    return { ok: true };
  }

  /** The stored entries; a missing file is none. An unreadable or invalid file is an error, never silently dropped. */
  private async readAll(): Promise<Record<string, string>> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw err;
    }
    const parsed = SecretsFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${this.file} is not a secrets file written by this app`);
    return parsed.data;
  }

  private update(change: (all: Record<string, string>) => Promise<boolean>): Promise<void> {
    const run = async () => {
      const all = await this.readAll();
      if (!(await change(all))) return;
      await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.file, JSON.stringify(all));
    };
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => undefined);
    return next;
  }

  async set(key: string, secret: string): Promise<void> {
    const ok = await this.available();
    if (!ok.ok) throw new Error(ok.reason);
    const sealed = (await this.storage.encryptStringAsync(secret)).toString("base64");
    await this.update(async (all) => {
      all[key] = sealed;
      return true;
    });
  }

  async get(key: string): Promise<string | undefined> {
    await this.writing;
    const value = (await this.readAll())[key];
    if (value === undefined) return undefined;
    const { result, shouldReEncrypt } = await this.storage.decryptStringAsync(Buffer.from(value, "base64"));
    if (shouldReEncrypt) {
      // The OS rotated its key: store it again under the new one (best effort).
      await this.set(key, result).catch(() => undefined);
    }
    return result;
  }

  async delete(key: string): Promise<void> {
    await this.update(async (all) => {
      if (!Object.hasOwn(all, key)) return false;
      delete all[key];
      return true;
    });
  }
}
