// Our QMP client. It runs over any Duplex stream: a local UNIX socket or an
// ssh2 streamlocal channel to `ctrl/<instance>.qmp` on a node.
//
// QEMU serves one client per QMP socket. A second client connects at the
// kernel level but never gets a greeting, so a missing greeting is reported
// as "busy", never as a silent hang.
//
// Whatever the peer sends, every call ends in one of the errors below within
// its time limit: a line is held only up to MAX_LINE_CHARS, every message is
// checked against its schema, and nothing thrown while reading escapes into
// the stream's event handlers.
import type { Duplex } from "node:stream";
import { EventEmitter } from "node:events";
import type { z } from "zod";
import { WriteBatch } from "../streams/write-batch.js";
import {
  QmpErrorSchema,
  QmpEventSchema,
  QmpGreetingSchema,
  QmpReturnSchema,
  QueryCommandsSchema,
  type QmpEvent,
  type QmpGreeting,
} from "../../shared/qmp/messages.js";

export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QEMU refused ${command}: ${desc} (${errorClass})`);
    this.name = "QmpError";
  }
}

export class QmpTimeoutError extends Error {
  constructor(what: string, ms: number, message = `No answer from QEMU to ${what} within ${ms} ms`) {
    super(message);
    this.name = "QmpTimeoutError";
  }
}

export class QmpBusyError extends Error {
  constructor(where: string, ms: number) {
    super(
      `The QMP socket ${where} sent no greeting within ${ms} ms: another client (Ganeti, kvmd or another app) holds it. Try again in a moment.`,
    );
    this.name = "QmpBusyError";
  }
}

export class QmpClosedError extends Error {
  constructor(reason: string) {
    super(`QMP connection closed: ${reason}`);
    this.name = "QmpClosedError";
  }
}

export class QmpProtocolError extends Error {
  constructor(detail: string) {
    super(`QEMU sent something that is not QMP: ${detail}`);
    this.name = "QmpProtocolError";
  }
}

export interface QmpConnectOptions {
  /** Shown in errors, e.g. "node1:/var/run/ganeti/kvm-hypervisor/ctrl/x.qmp". */
  label?: string;
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
  /**
   * Names the socket across sessions (node and path). With it, the command
   * list read by an earlier session is reused when the same QEMU build
   * greets again (same version, package and capabilities): query-commands
   * is the slowest read of a probe and its answer depends on the build only.
   */
  cacheKey?: string;
}

/** The cacheKey of a node's QMP socket: every session to it (probe or change) shares one entry. */
export const qmpCacheKey = (node: string, socketPath: string): string => `${node}:${socketPath}`;

/** Command lists by cacheKey, with the greeting they came with. */
const commandLists = new Map<string, { greeting: string; commands: Set<string> }>();
const COMMAND_LISTS_MAX = 4096;

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The longest line kept while waiting for its end. QEMU's largest answer we
 * ask for (query-pci with every slot used, or query-commands) is tens of KiB.
 */
export const MAX_LINE_CHARS = 1024 * 1024;
/** Events kept for waitForEvent: at most this many, and this many characters in all. */
const RECENT_EVENTS = 256;
const RECENT_EVENTS_CHARS = 1024 * 1024;

/**
 * The deepest nesting kept. query-pci nests about four levels per PCI bridge;
 * deeper values would overflow the stack of a schema check or JSON.stringify.
 */
export const MAX_DEPTH = 128;

/** Whether `v` nests deeper than `max` levels (iterative: it must not overflow itself). */
function nestsDeeperThan(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, depth] = stack.pop() as [unknown, number];
    if (typeof x !== "object" || x === null) continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(x) ? x : Object.values(x)) stack.push([child, depth + 1]);
  }
  return false;
}

/** `schema.parse`, failing with a QmpProtocolError that says what came instead. */
function parseAs<S extends z.ZodTypeAny>(schema: S, value: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new QmpProtocolError(`${what}: ${issue ? `${issue.path.join(".") || "(the value)"}: ${issue.message}` : "unexpected shape"} (got ${JSON.stringify(value)?.slice(0, 200)})`);
}

export class QmpClient {
  readonly events = new EventEmitter();
  /** The start of a line whose end has not come yet, in pieces. */
  private partial: string[] = [];
  private partialChars = 0;
  /** Characters received before the greeting was complete (to tell a slow peer from a busy socket). */
  private receivedChars = 0;
  /** Commands issued together (a pipelined batch) leave in one write. */
  private readonly outgoing = new WriteBatch((text) => {
    if (!this.closed) this.stream.write(text);
  });
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private closed: Error | undefined;
  private recentEvents: { event: QmpEvent; chars: number }[] = [];
  private recentEventsChars = 0;
  private greetingWaiter: ((g: unknown) => void) | undefined;
  greeting!: QmpGreeting;
  commands = new Set<string>();

  private constructor(
    private readonly stream: Duplex,
    private readonly options: Required<Omit<QmpConnectOptions, "cacheKey">>,
  ) {
    stream.setEncoding?.("utf8");
    stream.on("data", (chunk: string | Buffer) => {
      // Nothing thrown while reading may escape into the stream's event handler (an uncaught exception).
      try {
        this.onData(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      } catch (err) {
        this.fail(() => new QmpClosedError(`reading a message failed: ${err instanceof Error ? err.message : String(err)}`));
        this.stream.destroy();
      }
    });
    stream.on("close", () => this.fail(() => new QmpClosedError("the stream ended")));
    stream.on("end", () =>
      this.fail(() => new QmpClosedError(this.partialChars ? `the stream ended in the middle of a message (${this.partialChars} characters of it came)` : "the stream ended")),
    );
    stream.on("error", (err: Error) => this.fail(() => new QmpClosedError(err.message)));
  }

  /** Greeting, capability negotiation, and the list of supported commands. */
  static async connect(stream: Duplex, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    return (await QmpClient.connectThen(stream, opts, async () => undefined)).client;
  }

  /**
   * connect, with `first`'s commands queued right behind the negotiation.
   * Everything is written at once, before the greeting is in: QEMU reads a
   * client only after greeting it, and runs what it reads in order, so
   * qmp_capabilities comes first and the rest sees command mode. The wait
   * for the greeting and the round trip of the negotiation overlap the
   * channel's opening. Until query-commands is back, `supports` says yes to
   * everything, so `first` sends what it needs; QEMU refuses what it lacks.
   */
  static async connectThen<T>(stream: Duplex, opts: QmpConnectOptions, first: (c: QmpClient) => Promise<T>): Promise<{ client: QmpClient; first: T }> {
    const options: Required<Omit<QmpConnectOptions, "cacheKey">> = {
      label: opts.label ?? "QMP socket",
      greetingTimeoutMs: opts.greetingTimeoutMs ?? 5000,
      commandTimeoutMs: opts.commandTimeoutMs ?? 10_000,
    };
    const client = new QmpClient(stream, options);
    const known = opts.cacheKey === undefined ? undefined : commandLists.get(opts.cacheKey);
    const greeting = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        const ms = options.greetingTimeoutMs;
        // A busy socket sends nothing; a peer that sent part of a line is slow or broken.
        reject(
          client.receivedChars === 0
            ? new QmpBusyError(options.label, ms)
            : new QmpTimeoutError("its greeting", ms, `The QMP socket ${options.label} sent ${client.receivedChars} characters but no complete greeting within ${ms} ms`),
        );
      }, options.greetingTimeoutMs);
      client.greetingWaiter = (g) => {
        clearTimeout(timer);
        resolve(g);
      };
      client.events.once("closed", (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const negotiated = client.execute("qmp_capabilities");
    const listing = known ? undefined : client.execute("query-commands");
    const firstDone = first(client);
    // A busy socket fails the greeting first; these then fail with "closed": not unhandled.
    negotiated.catch(() => undefined);
    listing?.catch(() => undefined);
    firstDone.catch(() => undefined);
    try {
      const raw = await greeting;
      client.greeting = parseAs(QmpGreetingSchema, raw, "the greeting");
      await negotiated;
      const signature = JSON.stringify(raw);
      if (known && known.greeting === signature) client.commands = known.commands;
      else {
        // Another build answers on this socket now (or nothing was known): ask it.
        client.commands = new Set(parseAs(QueryCommandsSchema, await (listing ?? client.execute("query-commands")), "the answer to query-commands").map((c) => c.name));
        if (opts.cacheKey !== undefined) {
          commandLists.delete(opts.cacheKey);
          if (commandLists.size >= COMMAND_LISTS_MAX) commandLists.delete(commandLists.keys().next().value as string);
          commandLists.set(opts.cacheKey, { greeting: signature, commands: client.commands });
        }
      }
      return { client, first: await firstDone };
    } catch (err) {
      client.close();
      throw err;
    }
  }

  get version(): { major: number; minor: number; micro: number } {
    return this.greeting.QMP.version.qemu;
  }

  supports(command: string): boolean {
    return this.commands.size === 0 || this.commands.has(command);
  }

  /** Run one command; resolves with its `return` value (checked against `schema` when given). */
  execute<S extends z.ZodTypeAny>(command: string, args?: Record<string, unknown>, opts?: { timeoutMs?: number; schema: S }): Promise<z.infer<S>>;
  execute(command: string, args?: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<unknown>;
  async execute(command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number; schema?: z.ZodTypeAny } = {}): Promise<unknown> {
    if (this.closed) throw this.closed;
    if (this.commands.size > 0 && !this.commands.has(command)) {
      throw new QmpError(command, "CommandNotFound", `this QEMU (${this.describeVersion()}) does not support ${command}`);
    }
    const id = `hd-${this.nextId++}`;
    const timeoutMs = opts.timeoutMs ?? this.options.commandTimeoutMs;
    const message: Record<string, unknown> = { execute: command, id };
    if (args && Object.keys(args).length > 0) message.arguments = args;
    const value = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      this.outgoing.add(`${JSON.stringify(message)}\n`);
    });
    return opts.schema ? parseAs(opts.schema, value, `the answer to ${command}`) : value;
  }

  /** Resolve with the first event (already received since connect, or arriving later) that matches. */
  waitForEvent(match: (e: QmpEvent) => boolean, timeoutMs: number, what = "a QMP event"): Promise<QmpEvent> {
    const seen = this.recentEvents.find((e) => match(e.event));
    if (seen) return Promise.resolve(seen.event);
    return new Promise((resolve, reject) => {
      const onEvent = (e: QmpEvent) => {
        if (!match(e)) return;
        cleanup();
        resolve(e);
      };
      const onClosed = (err: Error) => {
        cleanup();
        reject(err);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new QmpTimeoutError(what, timeoutMs));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off("event", onEvent);
        this.events.off("closed", onClosed);
      };
      this.events.on("event", onEvent);
      this.events.once("closed", onClosed);
    });
  }

  close(): void {
    this.fail(() => new QmpClosedError("closed by us"));
    this.stream.destroy();
  }

  private describeVersion(): string {
    const v = this.greeting?.QMP.version.qemu;
    return v ? `QEMU ${v.major}.${v.minor}.${v.micro}` : "QEMU";
  }

  /** Splits lines, looking at each character once, and holds at most MAX_LINE_CHARS of an unfinished one. */
  private onData(chunk: string): void {
    if (this.closed) return;
    if (this.greetingWaiter) this.receivedChars += chunk.length;
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf("\n", start)) >= 0) {
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      const length = this.partialChars + piece.length;
      if (length > MAX_LINE_CHARS) return this.tooLong(length);
      const line = this.partial.length ? this.partial.join("") + piece : piece;
      this.partial = [];
      this.partialChars = 0;
      const trimmed = line.trim();
      if (trimmed.length > 0) this.onLine(trimmed);
      if (this.closed) return;
    }
    if (start < chunk.length) {
      this.partial.push(chunk.slice(start));
      this.partialChars += chunk.length - start;
      if (this.partialChars > MAX_LINE_CHARS) this.tooLong(this.partialChars);
    }
  }

  private tooLong(chars: number): void {
    this.partial = [];
    this.partialChars = 0;
    this.fail(() => new QmpProtocolError(`a line of more than ${MAX_LINE_CHARS} characters (${chars} so far); no QMP answer is that long`));
    this.stream.destroy();
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.fail(() => new QmpProtocolError(line.slice(0, 200)));
      this.stream.destroy();
      return;
    }
    if (nestsDeeperThan(msg, MAX_DEPTH)) {
      this.fail(() => new QmpProtocolError(`a message nested deeper than ${MAX_DEPTH} levels: ${line.slice(0, 200)}`));
      this.stream.destroy();
      return;
    }
    if (this.greetingWaiter && typeof msg === "object" && msg !== null && "QMP" in msg) {
      const w = this.greetingWaiter;
      this.greetingWaiter = undefined;
      w(msg);
      return;
    }
    const ev = QmpEventSchema.safeParse(msg);
    if (ev.success) {
      this.recentEvents.push({ event: ev.data, chars: line.length });
      this.recentEventsChars += line.length;
      while (this.recentEvents.length > RECENT_EVENTS || this.recentEventsChars > RECENT_EVENTS_CHARS) {
        this.recentEventsChars -= this.recentEvents.shift()?.chars ?? 0;
      }
      try {
        this.events.emit("event", ev.data);
      } catch (err) {
        // A listener's bug: end the session with an error that says so, not an uncaught exception.
        this.fail(() => new QmpClosedError(`a listener of ${ev.data.event} events threw: ${err instanceof Error ? err.message : String(err)}`));
        this.stream.destroy();
      }
      return;
    }
    const err = QmpErrorSchema.safeParse(msg);
    if (err.success) {
      const p = this.take(err.data.id);
      p?.reject(new QmpError(p.command, err.data.error.class, err.data.error.desc));
      return;
    }
    const ret = QmpReturnSchema.safeParse(msg);
    if (ret.success) {
      this.take(ret.data.id)?.resolve(ret.data.return);
      return;
    }
    // Unknown message kinds are ignored: newer QEMUs may add some.
  }

  private take(id: string | number | undefined): Pending | undefined {
    if (id === undefined) return undefined;
    const p = this.pending.get(String(id));
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(String(id));
    return p;
  }

  /** `why` is called only for the first failure: an error (and its stack) is made once. */
  private fail(why: () => Error): void {
    if (this.closed) return;
    const err = why();
    this.closed = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.events.emit("closed", err);
  }
}
