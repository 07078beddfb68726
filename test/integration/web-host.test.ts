// The web host's guard rails: loopback only, a token for the API, our own
// origin for the WebSocket, CSP on pages, and every call validated against
// the contract before it reaches the service.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { connect } from "node:net";
import { composeApp, type ComposedApp } from "../../electron/app/compose.js";
import { startWebHost, type WebHost } from "../../electron/web-host/server.js";
import { SshConfigImportSchema } from "../../shared/ipc/contract.js";
import { apiCall, openApiSocket } from "./web-api-client.js";

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

const open = (opts: { token?: string; origin?: string } = {}) => openApiSocket(host.port, { token: opts.token ?? host.token, ...(opts.origin ? { origin: opts.origin } : {}) });
const call = apiCall;

/** Sends raw bytes, half-closes, and returns everything the server answered before closing. */
function raw(text: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(host.port, "127.0.0.1", () => s.end(text));
    let out = "";
    s.on("data", (d: Buffer) => (out += d.toString("latin1")));
    s.on("close", () => resolve(out));
    s.on("error", () => undefined);
  });
}

/** A WebSocket frame from the client (masked), with any opcode and payload. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 255]);
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]);
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
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    // Sockets only to this host's own port, never any loopback port.
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${host.port} ws://localhost:${host.port}`);
    expect(csp).not.toContain("*");
    expect((await get("/../secret.txt")).body).not.toContain("not for the browser");
    expect((await get("/%2e%2e/secret.txt")).status).toBe(404);
    expect((await get("/", { host: "evil.example:80" })).status).toBe(421);
  });

  it("answers bad request targets with 400 and keeps serving (issue 13: one request used to end the process)", async () => {
    const hostHeader = `Host: 127.0.0.1:${host.port}`;
    expect(await raw(`GET /%E0%A4%A HTTP/1.1\r\n${hostHeader}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(`GET /%zz/../x HTTP/1.1\r\n${hostHeader}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(`GET /a%00b HTTP/1.1\r\n${hostHeader}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(`GET http://127.0.0.1/ HTTP/1.1\r\n${hostHeader}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    const upgrade = (path: string) => `GET ${path} HTTP/1.1\r\n${hostHeader}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    expect(await raw(upgrade("//["))).toMatch(/^HTTP\/1\.1 (400|403) /);
    expect(await raw(upgrade("/%E0%A4%A"))).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(`GARBAGE\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(`GET / HTTP/1.1\r\n${hostHeader}\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    // Still up, still serving.
    expect((await get("/")).status).toBe(200);
  });

  it("survives invalid WebSocket frames on an authenticated connection and keeps serving others", async () => {
    for (const bad of [frame(0x3, Buffer.from("x")), frame(0x1, Buffer.from([0xff, 0xfe])), frame(0x9, Buffer.alloc(200)), frame(0x2, Buffer.from("{}"))]) {
      const ws = await open();
      const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
      ws.on("error", () => undefined);
      // Straight onto the TCP socket: the ws client would refuse to send these.
      (ws as unknown as { _socket: import("node:net").Socket })._socket.write(bad);
      expect(await closed).toBeGreaterThanOrEqual(1002);
    }
    const ws = await open();
    try {
      expect(await call(ws, 1, "app.info", {})).toMatchObject({ ok: true });
    } finally {
      ws.close();
    }
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
