// The passphrase store (memory for this run, keychain across runs only where
// it can encrypt) and the safeStorage-backed secrets file. The OS keychain
// cannot be driven from tests, so a named stand-in takes its place: an
// in-memory AES key that plays the keychain's part of safeStorage.
import { describe, it, expect, beforeEach, afterEach } from "vitest";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MEMORY_ONLY_REASON, PassphraseStore, type BackendAvailability, type PersistentSecretBackend } from "../../electron/app/passphrase-store.js";
import { SECRETS_FILE, SecretStore } from "../../electron/main/secrets.js";
import { FakeKeychainSafeStorage } from "./fake-keychain.js";

/** A persistent backend in a Map, with switches for availability and failures. */
class FakeBackend implements PersistentSecretBackend {
  readonly entries = new Map<string, string>();
  availability: BackendAvailability = { ok: true };
  failGet = false;
  async available() {
    return this.availability;
  }
  async get(nodeId: string) {
    if (this.failGet) throw new Error("cannot decrypt");
    return this.entries.get(nodeId);
  }
  async set(nodeId: string, secret: string) {
    if (!this.availability.ok) throw new Error("set while unavailable");
    this.entries.set(nodeId, secret);
  }
  async delete(nodeId: string) {
    this.entries.delete(nodeId);
  }
}

describe("PassphraseStore", () => {
  it("without a backend: memory only, and it says passphrases last until the app quits", async () => {
    const store = new PassphraseStore();
    expect(await store.availability()).toEqual({ ok: false, reason: MEMORY_ONLY_REASON });
    expect(await store.set("n1", "pw", { remember: true })).toEqual({ remembered: false, reason: MEMORY_ONLY_REASON });
    expect(await store.get("n1")).toBe("pw");
    expect(await new PassphraseStore().get("n1")).toBeUndefined();
    store.clear();
    expect(await store.get("n1")).toBeUndefined();
  });

  it("remembers in the backend when asked and available; a new store (next run) finds it", async () => {
    const backend = new FakeBackend();
    const store = new PassphraseStore(backend);
    expect(await store.set("n1", "pw1", { remember: true })).toEqual({ remembered: true });
    expect(backend.entries.get("n1")).toBe("pw1");
    const nextRun = new PassphraseStore(backend);
    expect(nextRun.knows("n1")).toBe(false);
    expect(await nextRun.get("n1")).toBe("pw1");
    expect(nextRun.knows("n1")).toBe(true);
  });

  it("not asked to remember: kept for this run only, and an earlier remembered one is dropped", async () => {
    const backend = new FakeBackend();
    const store = new PassphraseStore(backend);
    await store.set("n1", "old", { remember: true });
    const r = await store.set("n1", "new", { remember: false });
    expect(r.remembered).toBe(false);
    expect(await store.get("n1")).toBe("new");
    expect(backend.entries.has("n1")).toBe(false);
  });

  it("backend unavailable (e.g. Linux basic_text): kept for this run, not remembered, and says why", async () => {
    const backend = new FakeBackend();
    backend.availability = { ok: false, reason: "No secret service is running" };
    const store = new PassphraseStore(backend);
    expect(await store.set("n1", "pw", { remember: true })).toEqual({ remembered: false, reason: "No secret service is running" });
    expect(backend.entries.size).toBe(0);
    expect(await store.get("n1")).toBe("pw");
    // Something stored while the keychain worked is not read while it does not.
    backend.entries.set("n2", "stale");
    expect(await store.get("n2")).toBeUndefined();
  });

  it("forget drops it in memory and in the backend", async () => {
    const backend = new FakeBackend();
    const store = new PassphraseStore(backend);
    await store.set("n1", "pw", { remember: true });
    await store.set("n2", "other", { remember: true });
    await store.forget("n1");
    expect(store.knows("n1")).toBe(false);
    expect(backend.entries.has("n1")).toBe(false);
    expect(await new PassphraseStore(backend).get("n1")).toBeUndefined();
    expect(await store.get("n2")).toBe("other");
  });

  it("rejected drops only the passphrase that failed, not one entered since", async () => {
    const backend = new FakeBackend();
    const store = new PassphraseStore(backend);
    await store.set("n1", "wrong", { remember: true });
    await store.rejected("n1", "wrong");
    expect(store.knows("n1")).toBe(false);
    expect(backend.entries.has("n1")).toBe(false);
    await store.set("n1", "newer", { remember: false });
    await store.rejected("n1", "wrong");
    expect(await store.get("n1")).toBe("newer");
  });

  it("a keychain that does not answer is reported unavailable, not waited for", async () => {
    const backend = new FakeBackend();
    backend.available = () => new Promise<BackendAvailability>(() => undefined);
    const store = new PassphraseStore(backend, 50);
    const a = await store.availability();
    expect(a.ok).toBe(false);
    expect(!a.ok && a.reason).toMatch(/cannot be used \(no answer within .*remembered until the app quits/);
    expect(await store.set("n1", "pw", { remember: true })).toMatchObject({ remembered: false });
    expect(await store.get("n1")).toBe("pw");
  });

  it("a keychain that cannot decrypt is treated as nothing remembered", async () => {
    const backend = new FakeBackend();
    backend.entries.set("n1", "pw");
    backend.failGet = true;
    expect(await new PassphraseStore(backend).get("n1")).toBeUndefined();
  });

  it("a passphrase set while the keychain is being read wins over the read", async () => {
    const backend = new FakeBackend();
    backend.entries.set("n1", "from-keychain");
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const slow: PersistentSecretBackend = { ...backend, available: () => backend.available(), set: (k, v) => backend.set(k, v), delete: (k) => backend.delete(k), get: async (k) => (await gate, backend.get(k)) };
    const store = new PassphraseStore(slow);
    const reading = store.get("n1");
    await store.set("n1", "typed", { remember: false });
    release();
    expect(await reading).toBe("typed");
    expect(await store.get("n1")).toBe("typed");
  });
});

describe("SecretStore (safeStorage-backed secrets file)", () => {
  let dir: string;
  let keychain: FakeKeychainSafeStorage;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hdsecrets-"));
    keychain = new FakeKeychainSafeStorage();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("stores only ciphertext, 0600, and reads it back; delete removes one entry", async () => {
    const store = new SecretStore(dir, keychain, "linux");
    expect(await store.available()).toEqual({ ok: true });
    await store.set("n1", "correct horse");
    await store.set("n2", "battery staple");
    const text = await readFile(join(dir, SECRETS_FILE), "utf8");
    expect(text).not.toContain("correct horse");
    expect(text).not.toContain("battery staple");
    expect((await stat(join(dir, SECRETS_FILE))).mode & 0o777).toBe(0o600);
    expect(await store.get("n1")).toBe("correct horse");
    await store.delete("n1");
    expect(await store.get("n1")).toBeUndefined();
    expect(await store.get("n2")).toBe("battery staple");
    await store.delete("absent");
  });

  it("refuses to store anything with Linux's basic_text backend or without encryption, and says why", async () => {
    keychain.backend = "basic_text";
    const linux = new SecretStore(dir, keychain, "linux");
    const a = await linux.available();
    expect(a.ok).toBe(false);
    expect(!a.ok && a.reason).toMatch(/No secret service .* remembered until the app quits/);
    await expect(linux.set("n1", "pw")).rejects.toThrow(/No secret service/);
    keychain.backend = "gnome_libsecret";
    keychain.encrypting = false;
    expect((await linux.available()).ok).toBe(false);
    await expect(readFile(join(dir, SECRETS_FILE))).rejects.toThrow(/ENOENT/);
    // basic_text is a Linux notion only.
    keychain.encrypting = true;
    keychain.backend = "basic_text";
    expect(await new SecretStore(dir, keychain, "darwin").available()).toEqual({ ok: true });
  });

  it("concurrent writes are not lost", async () => {
    const store = new SecretStore(dir, keychain, "linux");
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.set(`n${i}`, `pw${i}`)));
    for (let i = 0; i < 10; i++) expect(await store.get(`n${i}`)).toBe(`pw${i}`);
  });

  it("an unreadable secrets file is an error, not silently replaced", async () => {
    await writeFile(join(dir, SECRETS_FILE), "{ not json");
    const store = new SecretStore(dir, keychain, "linux");
    await expect(store.set("n1", "pw")).rejects.toThrow();
    expect(await readFile(join(dir, SECRETS_FILE), "utf8")).toBe("{ not json");
  });

  it("works as the PassphraseStore's backend across runs", async () => {
    const first = new PassphraseStore(new SecretStore(dir, keychain, "linux"));
    expect(await first.set("n1", "pw", { remember: true })).toEqual({ remembered: true });
    const second = new PassphraseStore(new SecretStore(dir, keychain, "linux"));
    expect(await second.get("n1")).toBe("pw");
    await second.forget("n1");
    expect(await new PassphraseStore(new SecretStore(dir, keychain, "linux")).get("n1")).toBeUndefined();
  });
});
