// The web host's guard rails: loopback only, a token for the API, our own
// origin for the WebSocket, CSP on pages, and every call validated against
// the contract before it reaches the service.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import WebSocket from "ws";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { startWebHost, type WebHost } from "../../electron/web-host/server.js";
import { ServerMessageSchema, WIRE_PATH, WIRE_PROTOCOL_PREFIX } from "../../shared/ipc/wire.js";
import { SshConfigImportSchema } from "../../shared/ipc/contract.js";

let dir: string;
let app: ComposedApp;
let host: WebHost;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hdweb-"));
  const staticDir = join(dir, "static");
  await mkdir(staticDir);
  await writeFile(join(staticDir, "index.html"), "<!doctype html><title>t</title>");
  await writeFile(join(dir, "secret.txt"), "not for the browser");
  app = await composeApp({
    dataDir: join(dir, "data"),
    transport: "web",
    version: "test",
    userKnownHostsPath: null,
  });
  host = await startWebHost({ dispatcher: app.dispatcher, bus: app.bus, staticDir });
});

afterAll(async () => {
  await host?.close();
  await app?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: host.port, path, headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function open(opts: { token?: string; origin?: string } = {}): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}${WIRE_PATH}`, [`${WIRE_PROTOCOL_PREFIX}${opts.token ?? host.token}`], {
    origin: opts.origin ?? `http://127.0.0.1:${host.port}`,
  });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function call(ws: WebSocket, id: number, channel: string, req: unknown) {
  return new Promise<ReturnType<typeof ServerMessageSchema.parse>>((resolve) => {
    const onMsg = (data: WebSocket.RawData) => {
      const m = ServerMessageSchema.parse(JSON.parse(String(data)));
      if (m.type === "result" && m.id === id) {
        ws.off("message", onMsg);
        resolve(m);
      }
    };
    ws.on("message", onMsg);
    ws.send(JSON.stringify({ type: "call", id, channel, request: req }));
  });
}

describe("web host", () => {
  it("listens on 127.0.0.1 only and hands out a URL with the token in the fragment", () => {
    expect(host.url).toBe(`http://127.0.0.1:${host.port}/`);
    expect(host.openUrl).toBe(`${host.url}#token=${host.token}`);
    expect(host.token.length).toBeGreaterThanOrEqual(32);
  });

  it("serves the UI with a strict CSP and refuses paths outside it and foreign Host headers", async () => {
    const page = await get("/");
    expect(page.status).toBe(200);
    expect(String(page.headers["content-security-policy"])).toContain("script-src 'self'");
    expect((await get("/../secret.txt")).body).not.toContain("not for the browser");
    expect((await get("/%2e%2e/secret.txt")).status).toBe(404);
    expect((await get("/", { host: "evil.example:80" })).status).toBe(421);
  });

  it("refuses the API without the token or from another origin", async () => {
    await expect(open({ token: "wrong" })).rejects.toThrow(/403/);
    await expect(open({ origin: "http://evil.example" })).rejects.toThrow(/403/);
  });

  it("answers contract calls and validates them first", async () => {
    const ws = await open();
    try {
      const info = await call(ws, 1, "app.info", {});
      expect(info).toMatchObject({ ok: true, response: { transport: "web", version: "test" } });
      const nodes = await call(ws, 2, "nodes.list", {});
      expect(nodes).toMatchObject({ ok: true, response: [] });
      const unknown = await call(ws, 3, "fs.readFile", { path: "/etc/shadow" });
      expect(unknown).toMatchObject({ ok: false, error: { code: "bad-channel" } });
      const bad = await call(ws, 4, "nodes.add", { host: "node1; rm -rf /", user: "root" });
      expect(bad.type === "result" && !bad.ok && bad.error.message).toMatch(/host/);
      const extra = await call(ws, 5, "app.info", { sneaky: true });
      expect(extra).toMatchObject({ ok: false, error: { code: "bad-request" } });
      const ssh = await call(ws, 6, "nodes.importSshConfig", {});
      expect(ssh.type === "result" && ssh.ok && SshConfigImportSchema.parse(ssh.response).path).toMatch(/\.ssh\/config$/);
    } finally {
      ws.close();
    }
  });

  it("closes a connection that sends something that is not an API message", async () => {
    const ws = await open();
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send("{not json");
    expect(await closed).toBe(1003);
  });
});
