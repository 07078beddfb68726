// Trusting an unknown host key through the web host's WebSocket, as a
// script holding the page's token would: the token alone cannot trust a key
// (issue 13: any caller could, with the fingerprint node.status broadcast).
// Trust needs the one-time code printed only in the web host's terminal.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { existsSync } from "node:fs";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type RunningSshd } from "../../electron/lab/sshd.js";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { startWebHost, type WebHost } from "../../electron/web-host/server.js";
import { typedCodeGesture } from "../../electron/web-host/typed-code-gesture.js";
import type { ServerMessage } from "../../shared/ipc/wire.js";
import { apiCall, openApiSocket } from "./web-api-client.js";
import { TrustHostKeyResponseSchema } from "../../shared/ipc/contract.js";

let dir: string;
let sshd: RunningSshd;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdtrust-"));
  sshd = await startSshd(join(dir, "ssh"));
  await mkdir(join(dir, "static"));
  await writeFile(join(dir, "static", "index.html"), "<!doctype html><title>t</title>");
});

afterAll(async () => {
  await sshd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface AppWithClient {
  app: ComposedApp;
  terminal: string[];
  dataDir: string;
  call: (channel: string, req: unknown) => Promise<ServerMessage>;
  stop(): Promise<void>;
}

async function startApp(name: string, withGesture: boolean): Promise<AppWithClient> {
  const dataDir = join(dir, name);
  const terminal: string[] = [];
  const app = await composeApp({
    dataDir,
    transport: "web",
    version: "test",
    userKnownHostsPath: null,
    ...(withGesture ? { trustGesture: typedCodeGesture({ terminal: (t) => void terminal.push(t) }) } : {}),
  });
  await app.nodes.add({ id: "lab", name: "Lab node", host: sshd.host, port: sshd.port, user: sshd.user, auth: { kind: "key", keyPath: sshd.privateKeyPath }, root: "/" });
  expect((await app.nodes.connect("lab")).hostKey).toMatchObject({ verdict: "unknown", fingerprint: sshd.hostKeyFingerprint });
  const host: WebHost = await startWebHost({ dispatcher: app.dispatcher, bus: app.bus, staticDir: join(dir, "static") });
  // The scripted client: the token and the right origin, nothing else.
  const ws = await openApiSocket(host.port, { token: host.token });
  let nextId = 1;
  return {
    app,
    terminal,
    dataDir,
    call: (channel, request) => apiCall(ws, nextId++, channel, request),
    stop: async () => {
      ws.close();
      await host.close();
      await app.dispose();
    },
  };
}

const trustResult = (m: ServerMessage) => {
  if (m.type !== "result" || !m.ok) throw new Error(`call failed: ${JSON.stringify(m)}`);
  return TrustHostKeyResponseSchema.parse(m.response);
};

describe("host-key trust through the web host's WebSocket", () => {
  it("a client with the token alone cannot trust a key; the code from the terminal can", async () => {
    const t = await startApp("with-gesture", true);
    const knownHosts = join(t.dataDir, "known_hosts");
    try {
      const fingerprint = sshd.hostKeyFingerprint;
      // Asking prints a code in the terminal, not in the answer.
      const asked = trustResult(await t.call("nodes.trustHostKey", { nodeId: "lab", fingerprint }));
      expect(asked.outcome).toBe("code-needed");
      expect(JSON.stringify(asked)).not.toMatch(/\d{4} \d{4}/);
      expect(t.terminal.join("")).toContain(fingerprint);
      const code = /\n {4}(\d{4}) (\d{4})\n/.exec(t.terminal.join(""))!.slice(1).join("");

      // Guessing: every wrong code is refused, and after 3 the printed code is void too.
      for (const guess of ["00000000", "12345678", "99999999"].filter((g) => g !== code)) {
        expect(trustResult(await t.call("nodes.trustHostKey", { nodeId: "lab", fingerprint, code: guess })).outcome).toMatch(/declined|code-needed/);
      }
      if (!["00000000", "12345678", "99999999"].includes(code)) {
        expect(trustResult(await t.call("nodes.trustHostKey", { nodeId: "lab", fingerprint, code })).outcome).toBe("code-needed");
      }
      expect(existsSync(knownHosts)).toBe(false);
      expect(t.app.nodes.status("lab")?.state).toBe("failed");

      // The user reads the newest code in the terminal and types it.
      const fresh = [...t.terminal.join("").matchAll(/\n {4}(\d{4}) (\d{4})\n/g)].at(-1)!.slice(1).join("");
      const trusted = trustResult(await t.call("nodes.trustHostKey", { nodeId: "lab", fingerprint, code: fresh }));
      expect(trusted.outcome).toBe("trusted");
      expect(await readFile(knownHosts, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
      await expect.poll(() => t.app.nodes.status("lab")?.state, { timeout: 20_000 }).toBe("ready");
      // A used code is worth nothing, and there is nothing left to trust.
      const again = await t.call("nodes.trustHostKey", { nodeId: "lab", fingerprint, code: fresh });
      expect(again).toMatchObject({ ok: false, error: { message: expect.stringMatching(/no host key waiting/) } });
      const activity = t.app.activity.list({ nodeId: "lab" }).map((e) => e.summary);
      expect(activity.some((s) => /Trusted host key ssh-ed25519 .* one-time code/.test(s))).toBe(true);
    } finally {
      await t.stop();
    }
  });

  it("a fingerprint other than the pending one is refused before anyone is asked", async () => {
    const t = await startApp("wrong-fingerprint", true);
    try {
      const r = await t.call("nodes.trustHostKey", { nodeId: "lab", fingerprint: `SHA256:${"A".repeat(43)}` });
      expect(r).toMatchObject({ ok: false, error: { message: expect.stringMatching(/is not the one .* presented/) } });
      expect(t.terminal).toEqual([]);
    } finally {
      await t.stop();
    }
  });

  it("an app composed without a gesture refuses to trust at all", async () => {
    const t = await startApp("no-gesture", false);
    try {
      const r = trustResult(await t.call("nodes.trustHostKey", { nodeId: "lab", fingerprint: sshd.hostKeyFingerprint, code: "12345678" }));
      expect(r).toMatchObject({ outcome: "declined", reason: expect.stringMatching(/no way to ask you/) });
      expect(existsSync(join(t.dataDir, "known_hosts"))).toBe(false);
    } finally {
      await t.stop();
    }
  });
});
