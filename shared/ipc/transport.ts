// What both transports (Electron IPC through the preload, and the web
// host's WebSocket) do with what arrives, so they behave the same: an
// answer is checked against the contract before the UI sees it, an event is
// dropped unless it matches its schema, and a failure becomes one error
// type with one `code`.
//
// Over IPC the answer crosses Electron's context bridge, which copies values
// with structured cloning: an Error loses its class and any field of its own
// (`code` included) on the way. So the preload hands over the checked answer
// (plain data), and the page turns a failed one into an ApiError on its side.
import { z } from "zod";
import { contract, events, isChannel, type Channel, type EventName, type EventPayload, type Response } from "./contract";

/** An error as it crosses a transport: a message for people and a code for programs. */
export const WireErrorSchema = z.object({ message: z.string(), code: z.string().optional() });
export type WireError = z.infer<typeof WireErrorSchema>;

/** An error the app reported, on either transport. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code = "error",
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A call's answer, checked: the response, or why there is none. */
export type CallAnswer<C extends Channel> = { ok: true; response: Response<C> } | { ok: false; error: { message: string; code: string } };

const AnswerSchema = z.union([z.object({ ok: z.literal(true), response: z.unknown() }), z.object({ ok: z.literal(false), error: WireErrorSchema })]);

/** An answer to `channel` as it arrived, checked against the contract (the same schemas main answered with). */
export function checkAnswer<C extends Channel>(channel: C, arrived: unknown): CallAnswer<C> {
  const answer = AnswerSchema.safeParse(arrived);
  const mismatch = { ok: false as const, error: { message: `The answer to ${channel} does not match this page's contract (reload the page; the app may have been updated).`, code: "bad-response" } };
  if (!answer.success || !isChannel(channel)) return mismatch;
  if (!answer.data.ok) return { ok: false, error: { message: answer.data.error.message, code: answer.data.error.code ?? "error" } };
  const response = contract[channel].response.safeParse(answer.data.response);
  return response.success ? { ok: true, response: response.data as Response<C> } : mismatch;
}

/** The response a checked answer carries; throws its ApiError when it carries none. */
export function responseOf<C extends Channel>(answer: CallAnswer<C>): Response<C> {
  if (!answer.ok) throw new ApiError(answer.error.message, answer.error.code);
  return answer.response;
}

/** An event as it arrived, checked against its schema; undefined when it is not one of the contract's. */
export function checkEvent<E extends EventName>(event: E, payload: unknown): EventPayload<E> | undefined {
  if (!Object.hasOwn(events, event)) return undefined;
  const p = events[event].safeParse(payload);
  return p.success ? (p.data as EventPayload<E>) : undefined;
}

/** The API the preload puts on window (`window.api`): checked answers, checked events. */
export interface BridgeApi {
  call<C extends Channel>(channel: C, request: unknown): Promise<CallAnswer<C>>;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}
