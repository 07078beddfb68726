// The browser-side half of the web host: the same HotplugDeskApi the
// Electron preload provides, carried over one WebSocket (framing in
// shared/ipc/wire.ts). Calls made while the socket is down wait for it;
// calls in flight when it drops fail, because their outcome is unknown.
import type { Channel, EventName, EventPayload, HotplugDeskApi, Request, Response } from "../../../shared/ipc/contract";
import { ApiError, checkAnswer, checkEvent, responseOf } from "../../../shared/ipc/transport";
import { ServerMessageSchema, WIRE_MAX_BYTES, WIRE_PATH, WIRE_PROTOCOL_PREFIX, type ClientMessage } from "../../../shared/ipc/wire";

/** The part of the DOM WebSocket this client uses (lets tests pass another implementation). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = (url: string, protocol: string) => WebSocketLike;

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export interface ConnectionStatus {
  state: ConnectionState;
  /** For people: why the connection is not open, and what to do. */
  detail?: string;
}

export interface WebApi extends HotplugDeskApi {
  readonly status: ConnectionStatus;
  onStatus(listener: (status: ConnectionStatus) => void): () => void;
  close(): void;
}

export interface WebTransportOptions {
  /** ws://127.0.0.1:PORT/api */
  url: string;
  token: string;
  /** Defaults to the browser's WebSocket. */
  createSocket?: WebSocketFactory;
  /** Waits between reconnect attempts; the last one repeats. */
  retryDelaysMs?: readonly number[];
  /** A call unanswered after this long fails (the host time-boxes its own work well below it). */
  callTimeoutMs?: number;
}

const OPEN = 1;


interface Pending {
  channel: Channel;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  sent: boolean;
  message: ClientMessage;
}

/** Reads the token the web host put in the page URL (#token=…). */
export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
  const token = params.get("token");
  return token !== null && token.length > 0 ? token : null;
}

/** ws://<same host>/api for a page served over http://. */
export function apiUrlFor(location: { protocol: string; host: string }): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${WIRE_PATH}`;
}

export function createWebApi(opts: WebTransportOptions): WebApi {
  const createSocket: WebSocketFactory = opts.createSocket ?? ((url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike);
  const delays = opts.retryDelaysMs ?? [250, 1000, 2000, 5000];
  const callTimeoutMs = opts.callTimeoutMs ?? 180_000;

  let socket: WebSocketLike | null = null;
  let status: ConnectionStatus = { state: "connecting" };
  let everOpened = false;
  let failures = 0;
  let closedByUs = false;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<(payload: never) => void>>();
  const statusListeners = new Set<(s: ConnectionStatus) => void>();

  const setStatus = (next: ConnectionStatus): void => {
    status = next;
    for (const l of [...statusListeners]) l(next);
  };

  const flush = (): void => {
    if (!socket || socket.readyState !== OPEN) return;
    for (const p of pending.values()) {
      if (p.sent) continue;
      p.sent = true;
      socket.send(JSON.stringify(p.message));
    }
  };

  const settle = (id: number): Pending | undefined => {
    const p = pending.get(id);
    if (!p) return undefined;
    pending.delete(id);
    clearTimeout(p.timer);
    return p;
  };

  const onMessage = (data: unknown): void => {
    if (typeof data !== "string" || data.length > WIRE_MAX_BYTES) return;
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return;
    }
    const msg = ServerMessageSchema.safeParse(raw);
    if (!msg.success) return;
    const m = msg.data;
    if (m.type === "event") {
      const payload = checkEvent(m.event as EventName, m.payload);
      if (payload === undefined) {
        console.warn(`Ignoring the event ${m.event}: not one of this page's contract, or not of its shape`);
        return;
      }
      for (const l of [...(listeners.get(m.event) ?? [])]) (l as (p: unknown) => void)(payload);
      return;
    }
    const p = settle(m.id);
    if (!p) return;
    // Checked with the schemas main answered with (as the preload checks it): a mismatch means the host and this page are from different builds.
    try {
      p.resolve(responseOf(checkAnswer(p.channel, m)));
    } catch (err) {
      p.reject(err as ApiError);
    }
  };

  const connect = (): void => {
    retryTimer = null;
    let s: WebSocketLike;
    try {
      s = createSocket(opts.url, `${WIRE_PROTOCOL_PREFIX}${opts.token}`);
    } catch (err) {
      setStatus({ state: "closed", detail: `Cannot open ${opts.url}: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    socket = s;
    s.onopen = () => {
      everOpened = true;
      failures = 0;
      setStatus({ state: "open" });
      flush();
    };
    s.onmessage = (ev) => onMessage(ev.data);
    s.onerror = () => {
      // onclose follows and carries the handling.
    };
    s.onclose = () => {
      if (socket === s) socket = null;
      // A call that reached the host may or may not have run: say so instead of retrying it.
      for (const [id, p] of [...pending]) {
        if (!p.sent) continue;
        settle(id);
        p.reject(new ApiError(`Lost the connection to the Hotplug Desk host before it answered ${p.channel}; whether it ran is unknown. Check the activity log.`, "connection-lost"));
      }
      if (closedByUs) {
        setStatus({ state: "closed", detail: "Closed." });
        return;
      }
      failures++;
      const delay = delays[Math.min(failures - 1, delays.length - 1)] ?? 5000;
      const detail = everOpened
        ? `Lost the connection to the Hotplug Desk host; reconnecting in ${Math.round(delay / 1000) || 1} s.`
        : `Cannot reach the Hotplug Desk host at ${opts.url}. Is it still running, and is this the URL it printed (the token in it changes each start)? Retrying in ${Math.round(delay / 1000) || 1} s.`;
      setStatus({ state: "reconnecting", detail });
      retryTimer = setTimeout(connect, delay);
    };
  };

  connect();

  const api: WebApi = {
    get status() {
      return status;
    },
    call<C extends Channel>(channel: C, request: Request<C>): Promise<Response<C>> {
      return new Promise<Response<C>>((resolve, reject) => {
        if (closedByUs) {
          reject(new ApiError("The connection to the host was closed.", "closed"));
          return;
        }
        const id = nextId++;
        const timer = setTimeout(() => {
          if (settle(id)) reject(new ApiError(`The host did not answer ${channel} within ${Math.round(callTimeoutMs / 1000)} s.`, "timeout"));
        }, callTimeoutMs);
        pending.set(id, {
          channel,
          resolve: resolve as (v: unknown) => void,
          reject,
          timer,
          sent: false,
          message: { type: "call", id, channel, request },
        });
        flush();
      });
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      const l = listener as (payload: never) => void;
      set.add(l);
      return () => {
        set.delete(l);
      };
    },
    onStatus(listener) {
      statusListeners.add(listener);
      return () => {
        statusListeners.delete(listener);
      };
    },
    close() {
      closedByUs = true;
      if (retryTimer) clearTimeout(retryTimer);
      for (const [id, p] of [...pending]) {
        settle(id);
        p.reject(new ApiError("The connection to the host was closed.", "closed"));
      }
      socket?.close(1000, "page closed");
      setStatus({ state: "closed", detail: "Closed." });
    },
  };
  return api;
}
