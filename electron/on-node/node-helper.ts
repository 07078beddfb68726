// Everything the app does on a node besides reading: the node-side steps
// of a hotplug plan (tap, nic file, fd passing), the per-instance lock and
// the runtime file's compare-and-swap write. Run over SSH by one long-lived
//   python3 -c <node_helper.py> serve
// per NodeSession. The protocol (one JSON line per request, answer or event;
// a line ".<token>" is a lock's heartbeat) is in helper-protocol.ts, with a
// zod schema per op: a request is checked before it leaves, an answer when
// it arrives. The script is a constant; everything variable travels as JSON
// data, so data never becomes code.
//
// Why one process per session: each exec costs an SSH round trip plus a
// python3 start (~160 ms on a small node), paid per step before; now once.
// The helper ends on stdin EOF, which it sees when we close the channel and
// when the SSH connection dies (sshd closes the session's pipes).
//
// Why python3: file descriptors (a tap, a disk opened as root) can only
// reach QEMU over a local UNIX socket with SCM_RIGHTS, never through the SSH
// tunnel, and python3 is on every Ganeti node.
import type { z } from "zod";
import type { ClientChannel } from "ssh2";
import type { NodeSession } from "../ssh/session.js";
import { WriteBatch } from "../streams/write-batch.js";
import { abortChannel, describeArgv, ExecError, ExecOutputLimitError, ExecTimeoutError, openExec } from "./exec.js";
import { checkRequest, FailedOut, HELPER_ANSWERS, MAX_HELPER_LINE, parseHelperLine, type HelperArgs, type HelperEvent, type HelperOp } from "./helper-protocol.js";
// The Python source, as text, at build time (Vite and esbuild: `?raw`; tsx: scripts/text-loader.mjs).
import nodeHelperSource from "./node_helper.py?raw";

export {
  HelperEventSchema,
  HelperRequestSchema,
  HELPER_ANSWERS,
  LinkInfoOut,
  LockOut,
  NicFileOut,
  NicFilesOut,
  PassFdOut,
  TapCreateOut,
  TapRemoveOut,
  UnlockOut,
  WriteRuntimeOut,
  type HelperEvent,
  type HelperOp,
  type HelperArgs,
} from "./helper-protocol.js";

/** The helper's Python source, exactly the bytes of node_helper.py. */
export const NODE_HELPER_PY: string = nodeHelperSource;

export class NodeHelperError extends Error {
  constructor(
    readonly op: string,
    message: string,
    /** The helper's own failure answer, when it gave one (its fields beyond ok and error: write-runtime's "renamed"). */
    readonly said?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = "NodeHelperError";
  }
}

/** Errors of requests that never left this process: the helper cannot have acted on them. */
const notSent = new WeakSet<object>();
function markNotSent<E>(err: E): E {
  if (typeof err === "object" && err !== null) notSent.add(err);
  return err;
}

/**
 * True when `err` failed a request before any of it was written to the
 * node (refused by its schema, no helper could be started, the helper was
 * already gone): the node did nothing for it. Any other failure may have
 * come after the helper acted.
 */
export function wasNotSent(err: unknown): boolean {
  return typeof err === "object" && err !== null && notSent.has(err);
}

const HELPER_ARGV = ["python3", "-c", NODE_HELPER_PY, "serve"] as const;

/**
 * The helper process a request ran on: a lock taken there lives exactly as
 * long as this process, and its heartbeats go here.
 */
export interface HelperLink {
  readonly alive: boolean;
  /** Resolves with why the process ended (never rejects). */
  readonly ended: Promise<string>;
  /** A heartbeat line for one lock; no answer comes back. */
  heartbeat(token: string): void;
  onEvent(listener: (e: HelperEvent) => void): () => void;
}

/**
 * The helper process of one session. The script serves requests one after
 * the other and answers in order, so answers are matched to the requests
 * waiting, oldest first (ids are still checked, to catch a desync). Several
 * wait at once only within a chain; otherwise a session's requests take turns.
 */
class HelperProcess implements HelperLink {
  private nextId = 1;
  private readonly listeners = new Set<(e: HelperEvent) => void>();
  private endedWith: (why: string) => void = () => undefined;
  readonly ended = new Promise<string>((resolve) => (this.endedWith = resolve));
  /** The start of a line not yet ended by its newline. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private firstOp = "";
  private readonly outgoing = new WriteBatch((text) => {
    if (this.closed) return;
    try {
      this.channel.write(text);
    } catch (err) {
      this.kill(new ExecError(`Cannot send "${this.firstOp}" to the node-side helper on ${this.session.label}: ${(err as Error).message}`, HELPER_ARGV));
    }
  });
  private stderr = "";
  private exit: { code: number | null; signal: string | null } | undefined;
  private closed = false;
  /** Requests written and not yet answered, oldest first: the helper answers in order. */
  private pending: { id: number; op: string; resolve: (answer: { id: number | null; out: unknown }) => void; reject: (e: Error) => void }[] = [];

  private constructor(
    private readonly session: NodeSession,
    private readonly channel: ClientChannel,
    private readonly onGone: () => void,
  ) {
    channel.on("data", (chunk: Buffer) => this.onData(chunk));
    channel.stderr.on("data", (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString("utf8");
    });
    channel.on("exit", (code: number | null, signal?: string) => {
      this.exit = { code: typeof code === "number" ? code : null, signal: typeof signal === "string" ? signal : null };
    });
    // A write racing the close must not become an unhandled 'error'; close follows.
    channel.on("error", () => undefined);
    channel.once("close", () => this.gone());
  }

  static async start(session: NodeSession, timeoutMs: number, onGone: () => void): Promise<HelperProcess> {
    const opening = openExec(session, HELPER_ARGV);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // A channel that opens after we gave up must not linger on the node.
        opening.then(abortChannel, () => undefined);
        reject(new ExecTimeoutError(HELPER_ARGV, session.label, timeoutMs));
      }, timeoutMs);
    });
    try {
      return new HelperProcess(session, await Promise.race([opening, timeout]), onGone);
    } finally {
      clearTimeout(timer);
    }
  }

  get alive(): boolean {
    return !this.closed;
  }

  /**
   * One request; resolves with the raw answer object. `after`: the id of an
   * earlier request (see `nextRequestId`) this one runs only if that one succeeded.
   */
  request(op: string, args: unknown, timeoutMs: number, after?: number): Promise<unknown> {
    if (this.closed) return Promise.reject(markNotSent(this.lostError(op)));
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The process may be stuck in the step: end it; the next call starts a new one.
        this.kill(new ExecTimeoutError([...HELPER_ARGV, op], this.session.label, timeoutMs));
      }, timeoutMs);
      const entry = {
        id,
        op,
        resolve: (answer: { id: number | null; out: unknown }) => {
          clearTimeout(timer);
          if (answer.id !== id) {
            this.kill();
            return reject(new NodeHelperError(op, `The node-side helper on ${this.session.label} answered request ${String(answer.id)} while ${id} ("${op}") was waiting; it was restarted.`));
          }
          resolve(answer.out);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pending.push(entry);
      this.send(`${JSON.stringify(after === undefined ? { id, op, args } : { id, op, args, after })}\n`, op);
    });
  }

  /** Lines written together (a chain) leave in one write: one SSH packet, one wake-up of the helper. */
  private send(line: string, op: string): void {
    if (this.outgoing.empty) this.firstOp = op;
    this.outgoing.add(line);
  }

  /** The id the next request will get (for a following request's `after`). */
  get nextRequestId(): number {
    return this.nextId;
  }

  heartbeat(token: string): void {
    if (this.closed) return;
    this.send(`.${token}\n`, "heartbeat");
  }

  onEvent(listener: (e: HelperEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stdin EOF: the helper finishes and exits. */
  end(): void {
    try {
      this.channel.end();
    } catch {
      // Already closed.
    }
  }

  /** End the process; every request still waiting fails with `why` (or as the process ending would fail it). */
  private kill(why?: Error): void {
    this.endedWith("the node-side helper was stopped (a step timed out or answered out of turn)");
    this.closed = true;
    this.onGone();
    this.rejectAll(why);
    abortChannel(this.channel);
  }

  private rejectAll(why?: Error): void {
    const waiting = this.pending;
    this.pending = [];
    for (const p of waiting) p.reject(why ?? this.lostError());
  }

  /** Lines end at "\n"; only the new chunk is searched, so a long answer costs one pass. */
  private onData(chunk: Buffer): void {
    let from = 0;
    for (let nl = chunk.indexOf(10, from); nl >= 0; nl = chunk.indexOf(10, from)) {
      const piece = chunk.subarray(from, nl);
      from = nl + 1;
      if (this.partialBytes + piece.length > MAX_HELPER_LINE) return this.tooLong();
      const line = (this.partial.length ? Buffer.concat([...this.partial, piece]) : piece).toString("utf8");
      this.partial = [];
      this.partialBytes = 0;
      this.onLine(line);
      if (this.closed) return;
    }
    if (from < chunk.length) {
      this.partialBytes += chunk.length - from;
      if (this.partialBytes > MAX_HELPER_LINE) return this.tooLong();
      this.partial.push(Buffer.from(chunk.subarray(from)));
    }
  }

  private tooLong(): void {
    this.kill(new ExecOutputLimitError(HELPER_ARGV, this.session.label, "stdout", MAX_HELPER_LINE));
  }

  private onLine(line: string): void {
    const parsed = parseHelperLine(line);
    if (parsed?.kind === "event") {
      const { kind: _kind, ...event } = parsed;
      for (const l of this.listeners) l(event);
      return;
    }
    const p = this.pending.shift();
    if (!parsed) {
      // Not a line of the protocol: the helper is out of step, start afresh.
      p?.reject(new NodeHelperError(p.op, `The node-side step "${p.op}" on ${this.session.label} did not answer with JSON: ${line.trim().slice(0, 500) || "an empty line"}.`));
      this.kill();
      return;
    }
    if (p) p.resolve(parsed);
    else this.kill(); // an answer nobody asked for: out of step, start afresh
  }

  private gone(): void {
    this.endedWith(this.exit ? `the node-side helper exited (${this.exit.code ?? this.exit.signal ?? "?"})` : "the SSH connection closed");
    this.closed = true;
    this.onGone();
    this.rejectAll();
  }

  /** Why a request got no answer, in the terms a one-shot exec would have used. */
  private lostError(op = "request"): Error {
    if (!this.exit) {
      return new ExecError(
        `${describeArgv(HELPER_ARGV)} on ${this.session.label} ended without an exit status: the SSH connection was probably lost. Reconnect and check whether the step ran.`,
        HELPER_ARGV,
      );
    }
    const { code, signal } = this.exit;
    return new NodeHelperError(
      op,
      `The node-side step "${op}" on ${this.session.label} did not answer with JSON (exit ${code ?? signal ?? "?"}): ${(this.stderr || Buffer.concat(this.partial).toString("utf8")).trim().slice(0, 500) || "no output"}. Is python3 installed on the node?`,
    );
  }
}


/** The helper of each session, and the tail of its request queue. */
const helpers = new WeakMap<NodeSession, { process?: Promise<HelperProcess>; queue: Promise<unknown> }>();

async function helperOf(session: NodeSession, timeoutMs: number): Promise<HelperProcess> {
  const slot = helpers.get(session)!;
  const current = slot.process && (await slot.process.catch(() => undefined));
  if (current?.alive) return current;
  const starting = HelperProcess.start(session, timeoutMs, () => {
    if (slot.process === starting) delete slot.process;
  });
  slot.process = starting;
  starting.catch(() => {
    if (slot.process === starting) delete slot.process;
  });
  return starting;
}

/**
 * Close the session's helper (stdin EOF; it exits once any step in flight
 * is done). Closing the SSH connection ends it as well.
 */
export async function closeNodeHelper(session: NodeSession): Promise<void> {
  const slot = helpers.get(session);
  if (!slot?.process) return;
  const p = slot.process;
  delete slot.process;
  (await p.catch(() => undefined))?.end();
}

/** Run one helper op on the node and validate its JSON answer. */
export async function runNodeHelper<S extends z.ZodTypeAny>(session: NodeSession, op: string, args: Record<string, unknown>, schema: S, timeoutMs = 30_000): Promise<z.infer<S>> {
  return (await runNodeHelperOn(session, op, args, schema, timeoutMs)).out;
}

/** runNodeHelper, also handing back the process that ran the op (for what must live with it). */
export async function runNodeHelperOn<S extends z.ZodTypeAny>(
  session: NodeSession,
  op: string,
  args: Record<string, unknown>,
  schema: S,
  timeoutMs = 30_000,
): Promise<{ out: z.infer<S>; link: HelperLink }> {
  const sendable = checkedArgs(op, args, session);
  const { answer, link } = await inTurn(session, timeoutMs, (helper, left) => helper.request(op, sendable, left).then((answer) => ({ answer, link: helper })));
  return { out: checked(op, answer, schema), link };
}

/** The answer an op's schema gives. */
export type HelperAnswer<O extends HelperOp> = z.infer<(typeof HELPER_ANSWERS)[O]>;

/** runNodeHelper with the op's own request and answer types (helper-protocol.ts). */
export function callNodeHelper<O extends HelperOp>(session: NodeSession, op: O, args: HelperArgs<O>, timeoutMs = 30_000): Promise<HelperAnswer<O>> {
  // The answer is checked against HELPER_ANSWERS[op], whose output type this is.
  return runNodeHelper(session, op, args as Record<string, unknown>, HELPER_ANSWERS[op] as z.ZodTypeAny, timeoutMs) as Promise<HelperAnswer<O>>;
}

/** callNodeHelper, also handing back the process that ran the op. */
export function callNodeHelperOn<O extends HelperOp>(
  session: NodeSession,
  op: O,
  args: HelperArgs<O>,
  timeoutMs = 30_000,
): Promise<{ out: HelperAnswer<O>; link: HelperLink }> {
  return runNodeHelperOn(session, op, args as Record<string, unknown>, HELPER_ANSWERS[op] as z.ZodTypeAny, timeoutMs) as Promise<{ out: HelperAnswer<O>; link: HelperLink }>;
}

/** A step that was not run because the one before it in its chain failed. */
export class NodeHelperSkippedError extends NodeHelperError {
  constructor(op: string) {
    super(op, `The node-side step "${op}" was not run: the step before it failed.`);
    this.name = "NodeHelperSkippedError";
  }
}

export interface ChainedRequest<S extends z.ZodTypeAny = z.ZodTypeAny> {
  op: string;
  args: Record<string, unknown>;
  schema: S;
}

/**
 * Several requests sent at once, each run only if the one before it
 * succeeded: one round trip for the lot instead of one each. Returns one
 * promise per request, in order; a request the helper skipped rejects with
 * NodeHelperSkippedError. The caller learns exactly which ran. Every promise
 * has a handler attached, so one left unawaited after a failure is no
 * unhandled rejection.
 */
export function runNodeHelperChain(session: NodeSession, requests: ChainedRequest[], timeoutMs = 30_000): Promise<unknown>[] {
  let sendable: unknown[];
  try {
    sendable = requests.map((r) => checkedArgs(r.op, r.args, session));
  } catch (err) {
    // Nothing of the chain leaves: every step fails with the reason.
    const outs = requests.map(() => Promise.reject(err as Error));
    for (const o of outs) o.catch(() => undefined);
    return outs;
  }
  let expose: (answers: Promise<unknown>[]) => void = () => undefined;
  const turn = inTurn(session, timeoutMs, async (helper, left) => {
    let after: number | undefined;
    const answers = requests.map((r, i) => {
      const id = helper.nextRequestId;
      // Each step keeps a whole limit of its own: the k-th may end k limits after the first began.
      const p = helper.request(r.op, sendable[i], left + i * timeoutMs, after);
      after = id;
      return p;
    });
    expose(answers); // each answer is seen as it comes
    await Promise.allSettled(answers); // the session's turn lasts until the last
  });
  // Rejects only when the chain never went out (no helper).
  const sent = new Promise<Promise<unknown>[]>((resolve, reject) => {
    expose = resolve;
    turn.catch(reject);
  });
  const outs = requests.map((r, i) =>
    sent.then(async (answers) => {
      const answer = await answers[i]!;
      if (typeof answer === "object" && answer !== null && (answer as { skipped?: unknown }).skipped === true) throw new NodeHelperSkippedError(r.op);
      return checked(r.op, answer, r.schema);
    }),
  );
  for (const o of outs) o.catch(() => undefined);
  return outs;
}

/** Run `fn` with the session's helper when the requests before it have settled. */
function inTurn<T>(session: NodeSession, timeoutMs: number, fn: (helper: HelperProcess, timeLeftMs: number) => Promise<T>): Promise<T> {
  let slot = helpers.get(session);
  if (!slot) {
    slot = { queue: Promise.resolve() };
    helpers.set(session, slot);
  }
  // One turn at a time per session; each waits for the previous to settle.
  const turn = slot.queue.then(async () => {
    // The limit covers starting the helper too, as it covered the exec before.
    const started = Date.now();
    const helper = await helperOf(session, timeoutMs).catch((err: unknown) => {
      throw markNotSent(err);
    });
    return fn(helper, Math.max(1, timeoutMs - (Date.now() - started)));
  });
  slot.queue = turn.catch(() => undefined);
  return turn;
}

/** A request's args as its op's schema has them, or NodeHelperError saying why it is not sent. */
function checkedArgs(op: string, args: unknown, session: NodeSession): unknown {
  const r = checkRequest(op, args);
  if (!r.ok) throw markNotSent(new NodeHelperError(op, `The node-side step "${op}" was not sent to ${session.label}: ${r.why}.`));
  return r.args;
}

/** A helper answer checked: its own failure as NodeHelperError, else the op's schema. */
function checked<S extends z.ZodTypeAny>(op: string, answer: unknown, schema: S): z.infer<S> {
  const failed = FailedOut.safeParse(answer);
  if (failed.success) {
    const { ok: _ok, error, ...said } = failed.data;
    throw new NodeHelperError(op, error, said);
  }
  const ok = schema.safeParse(answer);
  if (!ok.success) throw new NodeHelperError(op, `The node-side step "${op}" answered in an unexpected shape (${describeArgv(["python3", op])}): ${ok.error.issues[0]?.message ?? "invalid"}`);
  return ok.data;
}
