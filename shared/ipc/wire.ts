// Messages on the web host's WebSocket (/api). Electron IPC carries the same
// calls natively; this is only the browser transport's framing.
import { z } from "zod";
import { WireErrorSchema } from "./transport";

export const WIRE_PATH = "/api";
/** The browser sends its token as this WebSocket subprotocol prefix + token. */
export const WIRE_PROTOCOL_PREFIX = "hotplug-desk.";

export const ClientMessageSchema = z.strictObject({
  type: z.literal("call"),
  id: z.number().int().nonnegative(),
  channel: z.string().max(64),
  request: z.unknown(),
});
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

// A plain union: both result shapes share type "result" (told apart by ok).
export const ServerMessageSchema = z.union([
  z.object({ type: z.literal("result"), id: z.number().int(), ok: z.literal(true), response: z.unknown() }),
  z.object({ type: z.literal("result"), id: z.number().int(), ok: z.literal(false), error: WireErrorSchema }),
  z.object({ type: z.literal("event"), event: z.string(), payload: z.unknown() }),
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** Largest message either side accepts (a runtime file is a few KiB). */
export const WIRE_MAX_BYTES = 4 * 1024 * 1024;
