// A stand-in for the OS keychain behind Electron's safeStorage, which tests
// cannot drive: AES-256-GCM with a key only this object holds, plus switches
// for "no encryption" and Linux's plain-text "basic_text" backend.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { SafeStorageLike } from "../../electron/main/secrets.js";

/** Stand-in for the OS keychain behind safeStorage: AES-GCM with a key only this object holds. */
export class FakeKeychainSafeStorage implements SafeStorageLike {
  private readonly key = randomBytes(32);
  encrypting = true;
  backend: ReturnType<SafeStorageLike["getSelectedStorageBackend"]> = "gnome_libsecret";
  async isAsyncEncryptionAvailable(): Promise<boolean> {
    return this.encrypting;
  }
  getSelectedStorageBackend() {
    return this.backend;
  }
  async encryptStringAsync(plainText: string): Promise<Buffer> {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([c.update(plainText, "utf8"), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  }
  async decryptStringAsync(encrypted: Buffer) {
    const d = createDecipheriv("aes-256-gcm", this.key, encrypted.subarray(0, 12));
    d.setAuthTag(encrypted.subarray(12, 28));
    return { shouldReEncrypt: false, result: Buffer.concat([d.update(encrypted.subarray(28)), d.final()]).toString("utf8") };
  }
}
