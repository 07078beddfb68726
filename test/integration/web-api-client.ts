// A scripted client of the web host's API, as any program holding the token
// could write one: the ws package, the wire format, nothing of the page.
import WebSocket from "ws";
import { ServerMessageSchema, WIRE_PATH, WIRE_PROTOCOL_PREFIX, type ServerMessage } from "../../shared/ipc/wire.js";

/** Opens the API socket with this token and Origin; rejects with "HTTP <status>" when refused. */
export function openApiSocket(port: number, opts: { token: string; origin?: string }): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${WIRE_PATH}`, [`${WIRE_PROTOCOL_PREFIX}${opts.token}`], { origin: opts.origin ?? `http://127.0.0.1:${port}` });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** One call; resolves with its result message. */
export function apiCall(ws: WebSocket, id: number, channel: string, request: unknown): Promise<ServerMessage> {
  return new Promise((resolve) => {
    const onMsg = (data: WebSocket.RawData) => {
      const m = ServerMessageSchema.parse(JSON.parse(String(data)));
      if (m.type === "result" && m.id === id) {
        ws.off("message", onMsg);
        resolve(m);
      }
    };
    ws.on("message", onMsg);
    ws.send(JSON.stringify({ type: "call", id, channel, request }));
  });
}
