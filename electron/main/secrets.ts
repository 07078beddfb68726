// Secrets (an SSH key passphrase the user asked us to remember) are kept
// only encrypted with the OS keychain via safeStorage, never in plain text.
// Where the OS has no secret store (Linux "basic_text"), we refuse to
// remember anything and say so: use ssh-agent instead.
import { safeStorage } from "electron";
import { readFile, writeFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

const SecretsFileSchema = z.record(z.string(), z.string());

export class SecretStore {
  constructor(private readonly dataDir: string) {}

  private get file(): string {
    return join(this.dataDir, "secrets.bin.json");
  }

  async available(): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (!(await safeStorage.isAsyncEncryptionAvailable())) return { ok: false, reason: "The OS offers no encryption for app secrets. Use ssh-agent for key passphrases." };
    if (process.platform === "linux" && safeStorage.getSelectedStorageBackend() === "basic_text") {
      return { ok: false, reason: "No secret service (GNOME Keyring, KWallet) is running, so a passphrase could not be stored safely. Use ssh-agent instead." };
    }
    return { ok: true };
  }

  private async readAll(): Promise<Record<string, string>> {
    try {
      return SecretsFileSchema.parse(JSON.parse(await readFile(this.file, "utf8")));
    } catch {
      return {};
    }
  }

  async set(key: string, secret: string): Promise<void> {
    const ok = await this.available();
    if (!ok.ok) throw new Error(ok.reason);
    const all = await this.readAll();
    all[key] = (await safeStorage.encryptStringAsync(secret)).toString("base64");
    await writeFile(`${this.file}.tmp`, JSON.stringify(all), { mode: 0o600 });
    await rename(`${this.file}.tmp`, this.file);
  }

  async get(key: string): Promise<string | undefined> {
    const value = (await this.readAll())[key];
    if (value === undefined) return undefined;
    return (await safeStorage.decryptStringAsync(Buffer.from(value, "base64"))).result;
  }

  async forgetAll(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
