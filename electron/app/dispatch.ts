// The single entry point both transports call. Every request is validated
// against the contract before a handler sees it; handlers get parsed data.
import { EventEmitter } from "node:events";
import { z } from "zod";
import { contract, events, isChannel, type Channel, type EventName, type EventPayload, type Response } from "../../shared/ipc/contract.js";
import { ApiError, type WireError } from "../../shared/ipc/transport.js";

export type Handlers = {
  [C in Channel]: (request: z.infer<(typeof contract)[C]["request"]>) => Promise<Response<C>>;
};

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message)).join("; ");
}

/** Events main emits, checked against their schemas on the way out. */
export class EventBus {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(100);
  }
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    this.emitter.emit("event", event, events[event].parse(payload));
  }
  subscribe(listener: (event: EventName, payload: unknown) => void): () => void {
    this.emitter.on("event", listener);
    return () => this.emitter.off("event", listener);
  }
}

export class Dispatcher {
  constructor(private readonly handlers: Handlers) {}

  async call(channel: unknown, rawRequest: unknown): Promise<unknown> {
    if (!isChannel(channel)) throw new ApiError(`Unknown API channel ${JSON.stringify(channel)}`, "bad-channel");
    const parsed = contract[channel].request.safeParse(rawRequest ?? {});
    if (!parsed.success) throw new ApiError(`Invalid request for ${channel}: ${describeIssues(parsed.error)}`, "bad-request");
    const handler = this.handlers[channel] as (req: unknown) => Promise<unknown>;
    return handler(parsed.data);
  }
}

/** An error as it may cross to the UI: a message for people and a code, no stack. */
export function toWireError(err: unknown): WireError {
  if (err instanceof ApiError) return { message: err.message, code: err.code };
  if (err instanceof Error) return { message: err.message, code: err.name };
  return { message: String(err) };
}
