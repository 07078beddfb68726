// Fuzzing the QMP client (issue 13, item 7): thousands of sessions against a
// scripted hostile peer (FAKE, fuzz-qmp-peer.ts) on UNIX sockets: garbage,
// lines beyond any sane length, one byte per 100 ms, wrong ids, answers
// before the greeting, floods of events, half a message then a close,
// invalid UTF-8, answers nested 50,000 deep. Every call of the client
// (connect, execute, waitForEvent) must end, within its own time limit, in
// a value or one of the client's own errors; nothing may be thrown out of
// an event handler; a huge line is dropped at the client's line cap.
//
// Deterministic scripts: fast-check draws them with a fixed seed.
// FUZZ_SEED=N and FUZZ_SESSIONS=N change the seed and the number of sessions.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { z } from "zod";
import { MAX_LINE_CHARS, QmpBusyError, QmpClient, QmpClosedError, QmpError, QmpProtocolError, QmpTimeoutError } from "../../electron/qmp/client.js";
import { QueryStatusSchema } from "../../shared/qmp/messages.js";
import { QueryPciResultSchema } from "../../shared/qmp/query-pci.js";
import { PeerLane, PeerSession, type PeerAction, type PeerStats } from "./fuzz-qmp-peer";
import { catchingUncaught, watchCall, type Call } from "../support/fuzz-calls.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20130007);
const SESSIONS = Number(process.env.FUZZ_SESSIONS ?? 3000);
/** Sessions at a time, each on its own socket path. */
const LANES = 48;
const GREETING_MS = 150;
const COMMAND_MS = 250;
const EVENT_MS = 200;
/** A call still unsettled this long after its own limit is counted as a hang (not a timing target: the limits are what is tested). */
const HANG_GRACE_MS = 5000;
/** What a socket may hold beyond the line cap before the client reads it (kernel buffers, one chunk in flight). */
const SOCKET_SLACK = 4 * 1024 * 1024;

const TYPED = [QmpError, QmpTimeoutError, QmpBusyError, QmpClosedError, QmpProtocolError];
const QomListSchema = z.array(z.object({ name: z.string(), type: z.string() }).loose());

/** Waits for `p`, but not forever: a call that outlives its limit by HANG_GRACE_MS is a hang. */
async function watch<T>(what: string, limitMs: number, p: Promise<T>, calls: Call[]): Promise<T | undefined> {
  const r = await watchCall(what, limitMs, p, calls, TYPED, HANG_GRACE_MS);
  return r && "value" in r ? r.value : undefined;
}

/** What the app does on a QMP socket: connect with its first reads, a change, an event wait, a read. */
async function clientSession(lane: PeerLane, session: PeerSession, calls: Call[]): Promise<PeerStats> {
  const peer = lane.expect(session);
  const sock = net.connect(lane.path);
  const opts = { label: lane.path, greetingTimeoutMs: GREETING_MS, commandTimeoutMs: COMMAND_MS };
  const conn = await watch(
    "connect",
    Math.max(GREETING_MS, COMMAND_MS),
    QmpClient.connectThen(sock, opts, (c) => {
      if (session.throwingListener) {
        c.events.on("event", () => {
          throw new Error("a listener's bug");
        });
      }
      return Promise.all([c.execute("query-status", undefined, { schema: QueryStatusSchema }), c.execute("query-pci", undefined, { schema: QueryPciResultSchema })]);
    }),
    calls,
  );
  if (conn) {
    const c = conn.client;
    await Promise.all([
      watch("device_add", COMMAND_MS, c.execute("device_add", { driver: "virtio-net-pci", id: "nic-1" }), calls),
      watch("waitForEvent", EVENT_MS, c.waitForEvent((e) => e.event === "DEVICE_DELETED" && e.data?.device === "nic-1", EVENT_MS), calls),
      watch("qom-list", COMMAND_MS, c.execute("qom-list", { path: "/machine/peripheral" }, { schema: QomListSchema }), calls),
    ]);
    c.close();
  }
  sock.destroy();
  return peer;
}

let dir: string;
const lanes: PeerLane[] = [];
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "hd-qmp-fuzz-"));
  for (let i = 0; i < LANES; i++) lanes.push(new PeerLane(path.join(dir, `lane-${i}.sock`)));
  await Promise.all(lanes.map((l) => l.listen()));
});
afterAll(async () => {
  await Promise.all(lanes.map((l) => l.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe(`fuzz: ${SESSIONS} QMP sessions with a hostile peer (seed ${SEED})`, () => {
  const calls: Call[] = [];
  const stats: PeerStats[] = [];
  let uncaught: string[] = [];
  let seconds = 0;

  beforeAll(async () => {
    const sessions = fc.sample(PeerSession, { numRuns: SESSIONS, seed: SEED });
    const started = performance.now();
    const r = await catchingUncaught(() =>
      Promise.all(
        lanes.map(async (lane, k) => {
          for (let i = k; i < sessions.length; i += lanes.length) stats.push(await clientSession(lane, sessions[i] as PeerSession, calls));
        }),
      ),
      // Give late rejections a chance to show.
      50,
    );
    uncaught = r.uncaught;
    seconds = Math.round((performance.now() - started) / 100) / 10;
    const count = (o: Call["outcome"]) => calls.filter((c) => c.outcome === o).length;
    const errors: Record<string, number> = {};
    for (const c of calls) if (c.error) errors[c.error.split(":")[0] as string] = (errors[c.error.split(":")[0] as string] ?? 0) + 1;
    const figures = {
      seed: SEED,
      sessions: sessions.length,
      calls: calls.length,
      values: count("value"),
      typedErrors: count("typed-error"),
      errorsByClass: errors,
      untypedErrors: count("untyped-error"),
      hangs: count("hang"),
      crashes: uncaught.length,
      latestPastLimitMs: Math.round(Math.max(...calls.map((c) => c.overMs))),
      hugeLinesSent: stats.reduce((n, s) => n + s.hugeLines, 0),
      mostBytesOfAHugeLineTaken: Math.max(0, ...stats.map((s) => s.hugeLineBytes)),
      lineCapChars: MAX_LINE_CHARS,
      seconds,
    };
    console.log(`qmp fuzz figures: ${JSON.stringify(figures)}`);
  });

  it("reaches every kind of end: values, each typed error", () => {
    expect(calls.length).toBeGreaterThanOrEqual(SESSIONS);
    expect(calls.filter((c) => c.outcome === "value").length).toBeGreaterThan(SESSIONS / 10);
    const seen = new Set(calls.filter((c) => c.error).map((c) => c.error?.split(":")[0]));
    for (const t of TYPED) expect(seen, t.name).toContain(t.name);
  });

  it("ends every call in a value or a typed error (QmpError, QmpTimeoutError, QmpBusyError, QmpClosedError, QmpProtocolError), never hangs", () => {
    expect(calls.filter((c) => c.outcome === "untyped-error").map((c) => `${c.what}: ${c.error}`).slice(0, 10)).toEqual([]);
    expect(calls.filter((c) => c.outcome === "hang").map((c) => c.what)).toEqual([]);
  });

  it("throws nothing out of an event handler (no uncaught exception, no unhandled rejection)", () => {
    expect(uncaught.slice(0, 10)).toEqual([]);
  });

  it("drops a huge line at its line cap: the socket takes at most the cap and its buffers", () => {
    const huge = stats.filter((s) => s.hugeLines > 0);
    expect(huge.length).toBeGreaterThan(0);
    expect(Math.max(...huge.map((s) => s.hugeLineBytes))).toBeLessThanOrEqual(MAX_LINE_CHARS + SOCKET_SLACK);
  });
});

// Each hostile behaviour on its own, with the error it must end in.
describe("the QMP client against one hostile behaviour at a time", () => {
  const GREET: PeerAction = { a: "greet", how: "ok" };
  const ANSWER_ALL: PeerAction = { a: "answer", how: "right", all: true };
  async function one(script: PeerAction[], then: PeerSession["then"] = "silent", throwingListener = false): Promise<{ calls: Call[]; stats: PeerStats; uncaught: string[] }> {
    const calls: Call[] = [];
    const r = await catchingUncaught(() => clientSession(lanes[0] as PeerLane, { script, then, throwingListener }, calls), 50);
    return { calls, stats: r.value, uncaught: r.uncaught };
  }
  const errorOf = (calls: Call[], what: string) => calls.find((c) => c.what === what)?.error;

  it("a line of 24 MiB without an end: QmpProtocolError once the cap is passed; the socket took no more than the cap and its buffers", async () => {
    const r = await one([GREET, ANSWER_ALL, { a: "huge", mib: 24, newline: false }], "silent");
    expect(r.calls.find((c) => c.what === "connect")?.outcome).toBe("value");
    expect(errorOf(r.calls, "device_add")).toMatch(/^QmpProtocolError: .*a line of more than 1048576 characters/);
    expect(r.stats.hugeLineBytes).toBeLessThanOrEqual(MAX_LINE_CHARS + SOCKET_SLACK);
  });

  it("a greeting at one byte per 100 ms: a QmpTimeoutError saying part of it came, not 'busy'", async () => {
    const r = await one([{ a: "slow", bytes: 3 }]);
    expect(errorOf(r.calls, "connect")).toMatch(/^QmpTimeoutError: The QMP socket .* sent \d+ characters but no complete greeting within 150 ms/);
  });

  it("no greeting at all: QmpBusyError (another client holds the socket)", async () => {
    const r = await one([{ a: "wait", ms: 1 }]);
    expect(errorOf(r.calls, "connect")).toMatch(/^QmpBusyError: /);
  });

  it("a greeting that is not QMP's: QmpProtocolError naming what is wrong", async () => {
    for (const how of ["qmp-number", "bad-version", "no-capabilities"] as const) {
      const r = await one([{ a: "greet", how }, ANSWER_ALL]);
      expect(errorOf(r.calls, "connect"), how).toMatch(/^QmpProtocolError: .*the greeting: QMP/);
    }
  });

  it("a greeting or answer nested 100,000 / 50,000 levels deep: QmpProtocolError, no stack overflow", async () => {
    const g = await one([{ a: "greet", how: "deep" }, ANSWER_ALL]);
    expect(errorOf(g.calls, "connect")).toMatch(/^QmpProtocolError: .*nested deeper than 128 levels/);
    const a = await one([GREET, { a: "answer", how: "deep", all: true }]);
    expect(errorOf(a.calls, "connect")).toMatch(/^QmpProtocolError: .*nested deeper than 128 levels/);
  });

  it("an answer of the wrong shape: QmpProtocolError saying what came", async () => {
    const r = await one([GREET, { a: "answer", how: "wrong-shape", all: true }]);
    expect(errorOf(r.calls, "connect")).toMatch(/^QmpProtocolError: .*the answer to query-commands/);
  });

  it("answers with wrong ids: each call ends in QmpTimeoutError at its limit", async () => {
    const r = await one([GREET, { a: "answer", how: "wrong-id", all: true }]);
    expect(errorOf(r.calls, "connect")).toMatch(/^QmpTimeoutError: No answer from QEMU to qmp_capabilities within 250 ms/);
  });

  it("answers before the greeting, then the greeting: the session works", async () => {
    const r = await one([ANSWER_ALL, GREET], "answer");
    expect(r.calls.filter((c) => c.outcome !== "value" && c.what !== "waitForEvent")).toEqual([]);
  });

  it("half a message, then the peer hangs up: QmpClosedError", async () => {
    const r = await one([GREET, { a: "partial" }, { a: "end" }]);
    expect(errorOf(r.calls, "connect")).toMatch(/^QmpClosedError: QMP connection closed: the stream ended in the middle of a message \(25 characters of it came\)/);
  });

  it("an event listener that throws: the session ends in QmpClosedError saying so; nothing uncaught", async () => {
    const r = await one([GREET, ANSWER_ALL, { a: "events", count: 3, how: "ok" }], "answer", true);
    expect(r.uncaught).toEqual([]);
    expect(r.calls.map((c) => c.error).find((e) => e !== undefined)).toMatch(/^QmpClosedError: .*a listener of RESUME events threw: a listener's bug/);
  });

  it("a flood of 3,000 events, 20 of them 200 KiB, and invalid UTF-8 in an answer: the session still works", async () => {
    const flood: PeerAction[] = [{ a: "events", count: 3000, how: "ok" }, { a: "events", count: 20, how: "big" }, { a: "events", count: 1, how: "device-deleted" }];
    const r = await one([GREET, ANSWER_ALL, ...flood], "answer");
    expect(r.calls.map((c) => `${c.what}: ${c.error ?? c.outcome}`).sort()).toEqual(["connect: value", "device_add: value", "qom-list: value", "waitForEvent: value"]);
    const u = await one([GREET, { a: "answer", how: "invalid-utf8", all: true }], "answer");
    expect(u.calls.find((c) => c.what === "connect")?.outcome).toBe("value");
  });
});
