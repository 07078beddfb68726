// The web host: the same API as Electron IPC, for an ordinary browser on
// this machine. Loopback only; the API needs a per-run token, the WebSocket
// upgrade must come from our own origin (no DNS rebinding, no other site),
// and every message is validated. No logic lives here: it only carries
// calls to the Dispatcher and events from the EventBus.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import { ClientMessageSchema, WIRE_MAX_BYTES, WIRE_PATH, WIRE_PROTOCOL_PREFIX, type ServerMessage } from "../../shared/ipc/wire.js";
import { toWireError, type Dispatcher, type EventBus } from "../app/dispatch.js";
import { CONTENT_SECURITY_POLICY } from "../../shared/ipc/csp.js";

export interface WebHostOptions {
  dispatcher: Dispatcher;
  bus: EventBus;
  /** The built renderer (index.html and assets). */
  staticDir: string;
  port?: number;
  token?: string;
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

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const token = opts.token ?? randomBytes(24).toString("base64url");
  const root = resolve(opts.staticDir);
  let port = 0;

  const serveStatic = async (req: IncomingMessage, res: ServerResponse) => {
    const host = req.headers.host ?? "";
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      res.writeHead(421, { "content-type": "text/plain" }).end("Misdirected request: this host serves 127.0.0.1 only.");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const urlPath = decodeURIComponent(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
    const rel = normalize(urlPath === "/" ? "/index.html" : urlPath);
    const file = join(root, rel);
    if (!file.startsWith(root + sep)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error("not a file");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end(
        rel === "/index.html" ? `The UI is not built: run "npx vite build --config renderer/vite.config.ts" (npm start does it).` : "Not found",
      );
    }
  };

  const server: Server = createServer((req, res) => void serveStatic(req, res));
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: WIRE_MAX_BYTES,
    handleProtocols: (protocols) => {
      for (const p of protocols) if (p.startsWith(WIRE_PROTOCOL_PREFIX) && sameToken(p.slice(WIRE_PROTOCOL_PREFIX.length), token)) return p;
      return false;
    },
  });

  server.on("upgrade", (req, socket, head) => {
    const origin = req.headers.origin;
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim());
    const tokenOk = offered.some((p) => p.startsWith(WIRE_PROTOCOL_PREFIX) && sameToken(p.slice(WIRE_PROTOCOL_PREFIX.length), token));
    const originOk = origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;
    if (path !== WIRE_PATH || !tokenOk || !originOk) {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });

  wss.on("connection", (ws: WebSocket) => {
    const send = (m: ServerMessage) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
    };
    const unsubscribe = opts.bus.subscribe((event, payload) => send({ type: "event", event, payload }));
    ws.on("close", unsubscribe);
    ws.on("message", (data) => {
      let msg;
      try {
        msg = ClientMessageSchema.parse(JSON.parse(String(data)));
      } catch {
        ws.close(1003, "not an API message");
        return;
      }
      opts.dispatcher.call(msg.channel, msg.request).then(
        (response) => send({ type: "result", id: msg.id, ok: true, response }),
        (err: unknown) => send({ type: "result", id: msg.id, ok: false, error: toWireError(err) }),
      );
    });
  });

  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(opts.port ?? 0, "127.0.0.1", () => res());
  });
  const addr = server.address();
  port = typeof addr === "object" && addr ? addr.port : 0;
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
