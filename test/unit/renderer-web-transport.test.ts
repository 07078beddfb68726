// The browser transport against a real WebSocket server speaking the web
// host's framing: token as subprotocol, calls and results matched by id,
// events validated, and calls in flight failing when the connection drops.
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, WebSocket as NodeWebSocket } from "ws";
import { createWebApi, tokenFromHash, apiUrlFor, type WebApi, type WebSocketFactory } from "../../renderer/src/api/web-transport";
import { WIRE_PROTOCOL_PREFIX } from "../../shared/ipc/wire";
import { ApiError } from "../../shared/ipc/transport";

const factory: WebSocketFactory = (url, protocol) => new NodeWebSocket(url, protocol) as never;

interface Harness {
  server: WebSocketServer;
  url: string;
  protocols: string[];
  sockets: NodeWebSocket[];
  onCall: (msg: { id: number; channel: string; request: unknown }, ws: NodeWebSocket) => void;
}

async function startServer(): Promise<Harness> {
  const h: Harness = { server: null as never, url: "", protocols: [], sockets: [], onCall: () => {} };
  h.server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (set) => [...set][0] ?? false });
  await new Promise<void>((r) => h.server.once("listening", () => r()));
  const addr = h.server.address() as { port: number };
  h.url = `ws://127.0.0.1:${addr.port}/api`;
  h.server.on("connection", (ws, req) => {
    h.protocols.push(String(req.headers["sec-websocket-protocol"]));
    h.sockets.push(ws);
    ws.on("message", (data) => h.onCall(JSON.parse(String(data)), ws));
  });
  return h;
}

let api: WebApi | undefined;
let harness: Harness | undefined;
afterEach(async () => {
  api?.close();
  for (const s of harness?.sockets ?? []) s.terminate();
  await new Promise<void>((r) => (harness ? harness.server.close(() => r()) : r()));
  api = undefined;
  harness = undefined;
});

describe("web transport", () => {
  it("reads the token from the fragment and builds the API URL", () => {
    expect(tokenFromHash("#token=abc_-1")).toBe("abc_-1");
    expect(tokenFromHash("#x=1")).toBeNull();
    expect(apiUrlFor({ protocol: "http:", host: "127.0.0.1:4000" })).toBe("ws://127.0.0.1:4000/api");
  });

  it("sends the token as the subprotocol, matches results by id and validates them", async () => {
    harness = await startServer();
    harness.onCall = (msg, ws) => {
      if (msg.channel === "app.info") ws.send(JSON.stringify({ type: "result", id: msg.id, ok: true, response: { version: "1", transport: "web", labAvailable: false, labRunning: false } }));
      else if (msg.channel === "nodes.list") ws.send(JSON.stringify({ type: "result", id: msg.id, ok: false, error: { message: "no such thing", code: "x" } }));
      else ws.send(JSON.stringify({ type: "result", id: msg.id, ok: true, response: { nonsense: true } }));
    };
    api = createWebApi({ url: harness.url, token: "tok123", createSocket: factory });
    // Both calls are made before the socket opens: they wait for it.
    const [info, list, bad] = await Promise.allSettled([api.call("app.info", {}), api.call("nodes.list", {}), api.call("inventory.list", {})]);
    expect(harness.protocols).toEqual([`${WIRE_PROTOCOL_PREFIX}tok123`]);
    expect(info).toEqual({ status: "fulfilled", value: { version: "1", transport: "web", labAvailable: false, labRunning: false } });
    expect(list.status === "rejected" && (list.reason as Error).message).toBe("no such thing");
    // One error type with one code, as over Electron IPC.
    expect(list.status === "rejected" && list.reason).toBeInstanceOf(ApiError);
    expect(list.status === "rejected" && (list.reason as ApiError).code).toBe("x");
    expect(bad.status === "rejected" && (bad.reason as ApiError).code).toBe("bad-response");
    expect(bad.status === "rejected" && (bad.reason as Error).message).toMatch(/does not match this page's contract/);
  });

  it("delivers valid events to listeners and drops malformed ones", async () => {
    harness = await startServer();
    api = createWebApi({ url: harness.url, token: "t", createSocket: factory });
    const got: unknown[] = [];
    const off = api.on("inventory.changed", (p) => got.push(p));
    await new Promise<void>((r) => api!.onStatus((s) => s.state === "open" && r()));
    const ws = harness.sockets[0]!;
    ws.send(JSON.stringify({ type: "event", event: "inventory.changed", payload: { nodeId: "n1" } }));
    ws.send(JSON.stringify({ type: "event", event: "inventory.changed", payload: { nodeId: 5 } }));
    ws.send(JSON.stringify({ type: "event", event: "no.such.event", payload: {} }));
    ws.send("not json");
    await new Promise((r) => setTimeout(r, 100));
    off();
    ws.send(JSON.stringify({ type: "event", event: "inventory.changed", payload: { nodeId: "n2" } }));
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([{ nodeId: "n1" }]);
  });

  it("fails calls in flight when the connection drops, then reconnects", async () => {
    harness = await startServer();
    let first = true;
    harness.onCall = (msg, ws) => {
      if (first) {
        first = false;
        ws.terminate();
        return;
      }
      ws.send(JSON.stringify({ type: "result", id: msg.id, ok: true, response: [] }));
    };
    api = createWebApi({ url: harness.url, token: "t", createSocket: factory, retryDelaysMs: [50] });
    const states: string[] = [];
    api.onStatus((s) => states.push(s.state));
    await expect(api.call("nodes.list", {})).rejects.toThrow(/Lost the connection .* before it answered nodes.list; whether it ran is unknown/);
    await expect(api.call("nodes.list", {})).resolves.toEqual([]);
    expect(states).toEqual(["open", "reconnecting", "open"]);
  });
});
