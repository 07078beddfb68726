// Fuzzing the node helper's client (issue 13, item 7, the helper half):
// thousands of sessions against a scripted hostile helper (FAKE,
// fuzz-helper-peer.ts): garbage, lines of 24 MiB, one byte at a time, wrong
// ids, events where answers belong, answers twice or after the close,
// invalid UTF-8, answers nested 50,000 deep, an exit or a close mid-line,
// a channel that cannot be opened. Every helper call (one op, a runtime
// write, a chain) must end, within its own time limit, in a value or one of
// the client's own errors; nothing may escape as an uncaught exception; and
// a runtime write counts as "not written" only when the peer said so before
// its rename (anything else lost is "unknown").
//
// Deterministic scripts: fast-check draws them with a fixed seed.
// FUZZ_SEED=N and FUZZ_SESSIONS=N change the seed and the number of sessions.
import { afterAll, describe, expect, it, beforeAll } from "vitest";
import fc from "fast-check";
import { callNodeHelper, runNodeHelperChain, NicFileOut, NodeHelperError, closeNodeHelper } from "../../electron/on-node/node-helper.js";
import { ExecError } from "../../electron/on-node/exec.js";
import { RuntimeChangedError, RuntimeFileError, RuntimeStore, RuntimeWriteUnknownError } from "../../electron/on-node/runtime-store.js";
import { HelperPeerScript, hostileHelperSession, type PeerRecord } from "./fuzz-helper-peer";
import { catchingUncaught, watchCall, type Call } from "../support/fuzz-calls.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20130013);
const SESSIONS = Number(process.env.FUZZ_SESSIONS ?? 1500);
const LANES = 64;
/** Each call's own limit (the timeout it is given). */
const LIMIT_MS = 250;
/** A call still unsettled this long after its limit is a hang (not a timing target: the limits are what is tested). */
const HANG_GRACE_MS = 5000;

const TYPED = [NodeHelperError, ExecError, RuntimeFileError, RuntimeChangedError, RuntimeWriteUnknownError];

const watch = <T>(what: string, limitMs: number, p: Promise<T>, calls: Call[]) => watchCall(what, limitMs, p, calls, TYPED, HANG_GRACE_MS);

/** What the app asks of a node helper in one session: an op, a runtime write, a chain of two, another op. */
async function appSession(i: number, script: HelperPeerScript, calls: Call[], wrongNotWritten: string[]): Promise<PeerRecord> {
  const { session, record } = hostileHelperSession(`fuzz@peer-${i}:22`, script);
  await watch("nic-files", LIMIT_MS, callNodeHelper(session, "nic-files", { dir: "/var/run/ganeti/kvm-hypervisor/nic/inst" }, LIMIT_MS), calls);
  const write = await watch(
    "write-runtime",
    LIMIT_MS,
    new RuntimeStore(session, "fuzz").writeRuntimeFile("/", "inst1", "new\n", { expected: Buffer.from("old\n"), timeoutMs: LIMIT_MS }),
    calls,
  );
  if (write && "error" in write && (write.error instanceof RuntimeFileError || write.error instanceof RuntimeChangedError) && record.saidNotWritten.size === 0) {
    wrongNotWritten.push(`session ${i}: ${(write.error as Error).message.slice(0, 200)}`);
  }
  const chain = runNodeHelperChain(
    session,
    [
      { op: "nic-file", args: { path: "/var/run/ganeti/kvm-hypervisor/nic/inst/0", action: "write", content: "tap0" }, schema: NicFileOut },
      { op: "nic-file", args: { path: "/var/run/ganeti/kvm-hypervisor/nic/inst/1", action: "write", content: "tap1" }, schema: NicFileOut },
    ],
    LIMIT_MS,
  );
  // The k-th of a chain may end k limits after the first began.
  await Promise.all(chain.map((c, k) => watch(`chain[${k}]`, LIMIT_MS * (k + 1), c, calls)));
  await watch("unlock", LIMIT_MS, callNodeHelper(session, "unlock", { token: "0123456789abcdef0123456789abcdef" }, LIMIT_MS), calls);
  await closeNodeHelper(session);
  return record;
}

describe(`fuzz: ${SESSIONS} node-helper sessions with a hostile peer (seed ${SEED})`, () => {
  const calls: Call[] = [];
  const records: PeerRecord[] = [];
  const wrongNotWritten: string[] = [];
  let uncaught: string[] = [];
  let seconds = 0;

  beforeAll(async () => {
    const scripts = fc.sample(HelperPeerScript, { numRuns: SESSIONS, seed: SEED });
    const t0 = performance.now();
    const r = await catchingUncaught(async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: LANES }, async () => {
          while (next < scripts.length) {
            const i = next++;
            records.push(await appSession(i, scripts[i]!, calls, wrongNotWritten));
          }
        }),
      );
      // Late answers ("late" ones come 1.5 s on) and late rejections get a chance to show.
    }, 2_000);
    uncaught = r.uncaught;
    seconds = (performance.now() - t0) / 1000;
    const count = (o: Call["outcome"]) => calls.filter((c) => c.outcome === o).length;
    const errors: Record<string, number> = {};
    for (const c of calls) if (c.errorName) errors[c.errorName] = (errors[c.errorName] ?? 0) + 1;
    const writes = calls.filter((c) => c.what === "write-runtime");
    console.log(
      JSON.stringify({
        fuzz: "node-helper",
        seed: SEED,
        sessions: SESSIONS,
        calls: calls.length,
        values: count("value"),
        typedErrors: count("typed-error"),
        untypedErrors: count("untyped-error"),
        hangs: count("hang"),
        uncaught: uncaught.length,
        errors,
        writes: { total: writes.length, written: writes.filter((c) => c.outcome === "value").length, notWritten: writes.filter((c) => c.errorName === "RuntimeFileError" || c.errorName === "RuntimeChangedError").length, unknown: writes.filter((c) => c.errorName === "RuntimeWriteUnknownError").length },
        wrongNotWritten: wrongNotWritten.length,
        hugeLines: records.reduce((n, r) => n + r.hugeLines, 0),
        maxOverMs: Math.round(Math.max(...calls.map((c) => c.overMs))),
        seconds: Math.round(seconds * 10) / 10,
      }),
    );
  }, 300_000);

  afterAll(() => undefined);

  it("every call ends in a value or one of the client's own errors", () => {
    expect(calls.length).toBeGreaterThanOrEqual(SESSIONS * 5);
    expect(calls.filter((c) => c.outcome === "untyped-error").map((c) => `${c.what}: ${c.error}`)).toEqual([]);
  });

  it("no call hangs: each settles within its time limit (plus a grace for a loaded machine)", () => {
    expect(calls.filter((c) => c.outcome === "hang").map((c) => c.what)).toEqual([]);
  });

  it("nothing escapes as an uncaught exception or unhandled rejection", () => {
    expect(uncaught).toEqual([]);
  });

  it('a runtime write is "not written" only when the peer said so before its rename; a lost answer is "unknown"', () => {
    expect(wrongNotWritten).toEqual([]);
    const writes = calls.filter((c) => c.what === "write-runtime");
    // The fuzz reaches all three outcomes.
    expect(writes.some((c) => c.outcome === "value")).toBe(true);
    expect(writes.some((c) => c.errorName === "RuntimeWriteUnknownError")).toBe(true);
    expect(writes.some((c) => c.errorName === "RuntimeFileError")).toBe(true);
  });

  it("the scripts reached the hard cases: huge lines, and calls that ran into their limit", () => {
    expect(records.reduce((n, r) => n + r.hugeLines, 0)).toBeGreaterThan(0);
    expect(calls.some((c) => c.errorName === "ExecTimeoutError")).toBe(true);
    expect(calls.some((c) => c.errorName === "ExecOutputLimitError")).toBe(true);
  });
});
