// FAKE: a scripted hostile node-helper peer, for the node helper client's
// fuzz test (fuzz-helper.test.ts; not a test file itself). It stands in for
// the SSH exec channel that `python3 -c <node_helper.py> serve` runs on: a
// fake NodeSession whose client.exec hands out a fake channel, and a script
// that answers the app's requests with garbage, huge lines, one byte at a
// time, wrong ids, events where answers belong, answers twice or after the
// channel closed, invalid UTF-8, answers nested 50,000 deep, an exit or a
// close mid-line. The real helper cannot do this on demand; its normal work
// is tested against the lab (test/integration, test/unit/node-helper-py).
import { EventEmitter } from "node:events";
import fc from "fast-check";
import type { NodeSession } from "../../electron/ssh/session.js";

const ODD_LINES = [
  "[]",
  "1",
  '"answer"',
  "null",
  "{}",
  '{"kind": "answer"}',
  '{"kind": "answer", "id": "1", "out": {}}',
  '{"kind": "answer", "id": null, "out": {"ok": true}}',
  '{"kind": "event"}',
  '{"kind": "event", "event": "lock-dropped", "token": 5, "why": []}',
  '{"kind": "nonsense", "id": 1}',
  '{"id": 1, "out": {"ok": true}, "kind": "answer", "kind": "event"}',
  "{",
  "\r",
  " ",
  "",
] as const;

const HOW = ["right", "failed", "failed-before-rename", "failed-after-rename", "wrong-shape", "wrong-id", "null-id", "event-instead", "twice", "deep", "invalid-utf8", "late"] as const;
export type AnswerHow = (typeof HOW)[number];

export const HelperPeerAction = fc.oneof(
  { weight: 10, arbitrary: fc.record({ a: fc.constant("answer" as const), how: fc.oneof({ weight: 4, arbitrary: fc.constant("right" as const) }, { weight: 6, arbitrary: fc.constantFrom(...HOW) }) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("garbage" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }), newline: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("line" as const), text: fc.constantFrom(...ODD_LINES) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("huge" as const), mib: fc.constantFrom(2, 24), newline: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("slow" as const), perByteMs: fc.integer({ min: 5, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("event" as const) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("partial-close" as const) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("exit" as const), code: fc.constantFrom(0, 1, 137), stderr: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("close" as const) }) },
);
export type HelperPeerAction = typeof HelperPeerAction extends fc.Arbitrary<infer T> ? T : never;

export const HelperPeerScript = fc.record({
  /** The channel cannot be opened at all. */
  refuseExec: fc.oneof({ weight: 19, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  script: fc.array(HelperPeerAction, { minLength: 1, maxLength: 6 }),
  /** Once the script is done: answer everything right, go silent, or close. */
  then: fc.constantFrom("answer" as const, "silent" as const, "close" as const),
});
export type HelperPeerScript = typeof HelperPeerScript extends fc.Arbitrary<infer T> ? T : never;

/** A request as the peer received it. */
interface Received {
  id: unknown;
  op: string;
}

export interface PeerRecord {
  /** Request ids of write-runtime the peer answered with an explicit "renamed: false" (it said: not written). */
  saidNotWritten: Set<number>;
  hugeLines: number;
  lines: number;
}

/** The answer the real helper would give to `op` when it succeeds. */
function rightOut(op: string): Record<string, unknown> {
  switch (op) {
    case "unlock":
      return { ok: true, released: true };
    case "nic-files":
      return { ok: true, files: { "0": "tap0" }, unreadable: [] };
    case "nic-file":
      return { ok: true, previous: null };
    case "link-info":
      return { ok: true, links: { br0: { exists: true, master: null } } };
    case "write-runtime":
      return { ok: true, written: true, renamed: true, dirSynced: true, unlocked: false };
    case "lock":
      return { ok: true, locked: true, token: "0123456789abcdef0123456789abcdef", check: null, quietMs: 12 };
    default:
      return { ok: true };
  }
}

const deep = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
const HUGE = Buffer.alloc(1024 * 1024, 0x61);

/** The fake exec channel: what ssh2's ClientChannel offers the helper client. */
class FakeChannel extends EventEmitter {
  readonly stderr = new EventEmitter();
  closed = false;
  eof = false;
  constructor(private readonly fromApp: (text: string) => void) {
    super();
  }
  write(text: string): boolean {
    if (this.closed) throw new Error("write after close (fake channel)");
    this.fromApp(text);
    return true;
  }
  end(): void {
    this.eof = true;
  }
  signal(): void {
    // The fake peer has no process to signal; close() follows.
  }
  close(): void {
    this.finish();
  }
  deliver(b: Buffer): void {
    if (!this.closed) this.emit("data", b);
  }
  finish(): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => this.emit("close"));
  }
}

/**
 * A fake NodeSession whose every exec runs `script` as the helper. Returns
 * the session and what the peer did.
 */
export function hostileHelperSession(label: string, s: HelperPeerScript): { session: NodeSession; record: PeerRecord } {
  const record: PeerRecord = { saidNotWritten: new Set(), hugeLines: 0, lines: 0 };
  const client = {
    exec(_command: string, cb: (err: Error | undefined, channel?: FakeChannel) => void) {
      if (s.refuseExec) return void setImmediate(() => cb(new Error("Channel open failure: administratively prohibited (fake)")));
      const inbox: Received[] = [];
      let buffered = "";
      let wake: () => void = () => undefined;
      const channel = new FakeChannel((text) => {
        buffered += text;
        for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.startsWith(".")) continue; // a heartbeat
          try {
            const m = JSON.parse(line) as { id: unknown; op: string };
            inbox.push({ id: m.id, op: m.op });
          } catch {
            // the client only sends JSON
          }
        }
        wake();
      });
      void play(channel, s, inbox, record, (w) => (wake = w));
      setImmediate(() => cb(undefined, channel));
    },
  };
  // The SSH connection itself never closes here: only the exec channels misbehave.
  return { session: { label, client, closed: false, lostWithin: () => Promise.resolve(false) } as unknown as NodeSession, record };
}

async function play(ch: FakeChannel, s: HelperPeerScript, inbox: Received[], record: PeerRecord, setWake: (w: () => void) => void): Promise<void> {
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  /** The next request, waiting up to 1 s for one (none: undefined). */
  const next = async (): Promise<Received | undefined> => {
    for (let i = 0; inbox.length === 0 && i < 2 && !ch.closed; i++) {
      await Promise.race([new Promise<void>((r) => setWake(r)), sleep(500)]);
    }
    return inbox.shift();
  };
  const line = (v: unknown) => Buffer.from(`${JSON.stringify(v)}\n`);
  const send = (b: Buffer) => {
    record.lines++;
    ch.deliver(b);
  };
  const answer = async (how: AnswerHow, r: Received) => {
    const id = r.id;
    const out = rightOut(r.op);
    switch (how) {
      case "right":
        return send(line({ kind: "answer", id, out }));
      case "failed":
        return send(line({ kind: "answer", id, out: { ok: false, error: "refused by the fake peer" } }));
      case "failed-before-rename":
        if (r.op === "write-runtime" && typeof id === "number") record.saidNotWritten.add(id);
        return send(line({ kind: "answer", id, out: { ok: false, error: "cannot create the temp file (fake)", renamed: false } }));
      case "failed-after-rename":
        return send(line({ kind: "answer", id, out: { ok: false, error: "OSError after the rename (fake)", renamed: true } }));
      case "wrong-shape":
        return send(line({ kind: "answer", id, out: { ok: true, written: "yes", released: 3, files: [1], links: null, locked: "no" } }));
      case "wrong-id":
        return send(line({ kind: "answer", id: typeof id === "number" ? id + 1000 : 7, out }));
      case "null-id":
        return send(line({ kind: "answer", id: null, out }));
      case "event-instead":
        return send(line({ kind: "event", event: "lock-dropped", token: "0123456789abcdef0123456789abcdef", why: "fake" }));
      case "twice":
        send(line({ kind: "answer", id, out }));
        return send(line({ kind: "answer", id, out }));
      case "deep":
        return send(Buffer.from(`{"kind": "answer", "id": ${JSON.stringify(id)}, "out": {"ok": true, "files": ${deep(50_000)}, "released": ${deep(50_000)}}}\n`));
      case "invalid-utf8":
        return send(Buffer.concat([Buffer.from(`{"kind": "answer", "id": ${JSON.stringify(id)}, "out": {"ok": false, "error": "`), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('"}}\n')]));
      case "late":
        // After the client has given up on it (and closed the channel): the fake drops it.
        await sleep(1_500);
        return send(line({ kind: "answer", id, out }));
    }
  };
  for (const act of s.script) {
    if (ch.closed) return;
    switch (act.a) {
      case "answer": {
        const r = await next();
        if (r) await answer(act.how, r);
        break;
      }
      case "garbage":
        send(Buffer.concat([Buffer.from(act.bytes), Buffer.from(act.newline ? "\n" : "")]));
        break;
      case "line":
        send(Buffer.from(`${act.text}\n`));
        break;
      case "huge": {
        record.hugeLines++;
        for (let i = 0; i < act.mib && !ch.closed; i++) {
          send(HUGE);
          await sleep(0);
        }
        if (act.newline) send(Buffer.from("\n"));
        break;
      }
      case "slow": {
        const r = await next();
        if (!r) break;
        for (const b of line({ kind: "answer", id: r.id, out: rightOut(r.op) })) {
          if (ch.closed) break;
          send(Buffer.from([b]));
          await sleep(act.perByteMs);
        }
        break;
      }
      case "event":
        send(line({ kind: "event", event: "lock-dropped", token: "feedfacefeedfacefeedfacefeedface", why: "no heartbeat for 1 s" }));
        break;
      case "wait":
        await sleep(act.ms);
        break;
      case "partial-close":
        send(Buffer.from('{"kind": "answer", "id": 1, "out": {"ok": tr'));
        ch.finish();
        return;
      case "exit":
        if (act.stderr) ch.stderr.emit("data", Buffer.from("Traceback (most recent call last):\n  SyntaxError: fake\n"));
        ch.emit("exit", act.code);
        ch.finish();
        return;
      case "close":
        ch.finish();
        return;
    }
  }
  if (s.then === "close") return ch.finish();
  if (s.then === "silent") return;
  while (!ch.closed && !ch.eof) {
    const r = await next();
    if (r) send(line({ kind: "answer", id: r.id, out: rightOut(r.op) }));
    else if (inbox.length === 0) await sleep(20);
  }
  // Stdin EOF: the helper exits.
  ch.emit("exit", 0);
  ch.finish();
}
