// The web host: the same API as Electron IPC, for an ordinary browser on
// this machine. Loopback only; the API needs a per-run token, the WebSocket
// upgrade must come from our own origin (no DNS rebinding, no other site),
// and every message is validated. No logic lives here: it only carries
// calls to the Dispatcher and events from the EventBus.
//
// Nothing a client sends may end the process: every request, upgrade and
// socket handler catches its own errors, a request target that cannot be
// decoded is answered 400, and sockets and WebSockets always have an error
// listener (an unlistened "error" event would be thrown).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { ClientMessageSchema, WIRE_MAX_BYTES, WIRE_PATH, WIRE_PROTOCOL_PREFIX, type ServerMessage } from "../../shared/ipc/wire.js";
import { toWireError, type Dispatcher, type EventBus } from "../app/dispatch.js";
import { webHostCsp } from "../../shared/ipc/csp.js";
import { parseRequestTarget } from "./request-target.js";

export interface WebHostOptions {
  /** Where API calls go (the app's Dispatcher). */
  dispatcher: Pick<Dispatcher, "call">;
  bus: EventBus;
  /** The built renderer (index.html and assets). */
  staticDir: string;
  port?: number;
  token?: string;
  /** Internal errors (never a client's bad input): default stderr. */
  onInternalError?: (what: string, err: unknown) => void;
}

export interface WebHost {
  url: string;
  /** The URL to open, with the token in the fragment (never sent to the server in requests). */
  openUrl: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
};

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Ends a raw (upgrade) socket with a short HTTP answer. */
function refuseSocket(socket: Duplex, status: number, reason: string): void {
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`);
  }
  // Do not wait for a client that never reads its answer.
  setTimeout(() => socket.destroy(), 1000).unref();
}

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const token = opts.token ?? randomBytes(24).toString("base64url");
  const root = resolve(opts.staticDir);
  const internalError = opts.onInternalError ?? ((what, err) => console.error(`web host: ${what}: ${err instanceof Error ? err.message : String(err)}`));
  let port = 0;
  let csp = "";

  const ownHost = (host: string | undefined) => host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  const ownOrigin = (origin: string | undefined) => origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;

  const plain = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...headers }).end(text);
  };

  const serveStatic = async (req: IncomingMessage, res: ServerResponse) => {
    if (!ownHost(req.headers.host)) {
      plain(res, 421, "Misdirected request: this host serves 127.0.0.1 only.");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      plain(res, 405, "Only GET and HEAD.", { allow: "GET, HEAD" });
      return;
    }
    const target = parseRequestTarget(req.url);
    if (!target.ok) {
      plain(res, 400, `Bad request: ${target.reason}.`);
      return;
    }
    const rel = normalize(target.path === "/" ? "/index.html" : target.path);
    const file = join(root, rel);
    if (!file.startsWith(root + sep)) {
      plain(res, 404, "Not found");
      return;
    }
    let body: Buffer;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error("not a file");
      body = await readFile(file);
    } catch {
      plain(res, 404, rel === "/index.html" ? `The UI is not built: run "npx vite build --config renderer/vite.config.ts" (npm start does it).` : "Not found");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "content-security-policy": csp,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };

  const server: Server = createServer((req, res) => {
    serveStatic(req, res).catch((err: unknown) => {
      internalError(`request ${req.method ?? "?"} failed`, err);
      if (!res.headersSent) plain(res, 500, "Internal error.");
      else res.destroy();
    });
  });
  // A slow or silent client holds a socket for seconds, not minutes.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Malformed HTTP (bad request line, header overflow, reset): answer when
  // the socket can still take it, then drop it. Never thrown.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] = err.code === "HPE_HEADER_OVERFLOW" ? [431, "Request Header Fields Too Large"] : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "Request Timeout"] : [400, "Bad Request"];
    refuseSocket(socket, status, reason);
  });
  server.on("error", (err) => internalError("server error", err));

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: WIRE_MAX_BYTES,
    handleProtocols: (protocols) => {
      for (const p of protocols) if (p.startsWith(WIRE_PROTOCOL_PREFIX) && sameToken(p.slice(WIRE_PROTOCOL_PREFIX.length), token)) return p;
      return false;
    },
  });
  wss.on("error", (err) => internalError("WebSocket server error", err));

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = parseRequestTarget(req.url);
    if (!target.ok) {
      refuseSocket(socket, 400, "Bad Request");
      return;
    }
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim());
    const tokenOk = offered.some((p) => p.startsWith(WIRE_PROTOCOL_PREFIX) && sameToken(p.slice(WIRE_PROTOCOL_PREFIX.length), token));
    if (target.path !== WIRE_PATH || !ownHost(req.headers.host) || !ownOrigin(req.headers.origin) || !tokenOk) {
      refuseSocket(socket, 403, "Forbidden");
      return;
    }
    // ws answers a malformed handshake (key, version) with 400 itself.
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  };

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    try {
      upgrade(req, socket, head);
    } catch (err) {
      internalError("upgrade failed", err);
      refuseSocket(socket, 500, "Internal Server Error");
    }
  });

  wss.on("connection", (ws: WebSocket) => {
    // Invalid frames (bad opcode, bad UTF-8, too large) are reported here;
    // ws closes the connection itself.
    ws.on("error", () => ws.terminate());
    const send = (m: ServerMessage) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify(m), (err) => {
        if (err) ws.terminate();
      });
    };
    const unsubscribe = opts.bus.subscribe((event, payload) => send({ type: "event", event, payload }));
    ws.on("close", unsubscribe);
    ws.on("message", (data: RawData, isBinary: boolean) => {
      let msg;
      try {
        if (isBinary) throw new Error("binary frame");
        msg = ClientMessageSchema.parse(JSON.parse(Buffer.isBuffer(data) ? data.toString("utf8") : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString("utf8")));
      } catch {
        ws.close(1003, "not an API message");
        return;
      }
      const id = msg.id;
      let call: Promise<unknown>;
      try {
        call = opts.dispatcher.call(msg.channel, msg.request);
      } catch (err) {
        call = Promise.reject(err);
      }
      call.then(
        (response) => send({ type: "result", id, ok: true, response }),
        (err: unknown) => send({ type: "result", id, ok: false, error: toWireError(err) }),
      );
    });
  });

  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      server.off("error", rej);
      res();
    });
  });
  const addr = server.address();
  port = typeof addr === "object" && addr ? addr.port : 0;
  csp = webHostCsp(port);
  const url = `http://127.0.0.1:${port}/`;
  return {
    url,
    openUrl: `${url}#token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((res) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
}
