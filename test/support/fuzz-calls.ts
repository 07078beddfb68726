// What the fuzz tests of a client share (not a test file itself): each call
// watched against its own time limit and sorted into a value, one of the
// client's own errors, any other error, or a hang; and the uncaught
// exceptions and unhandled rejections seen while a run lasts.

export interface Call {
  what: string;
  outcome: "value" | "typed-error" | "untyped-error" | "hang";
  /** The error's name and start, for anything but a value. */
  error?: string;
  errorName?: string;
  /** Milliseconds past the call's own limit when it settled (negative: before). */
  overMs: number;
}

/** How a watched call settled: its value, its error, or nothing (a hang). */
export type Settled<T> = { value: T } | { error: unknown } | undefined;

/**
 * Waits for `p`, but not forever: a call that outlives its limit by
 * `graceMs` is a hang. An error is "typed" when it is one of `typed`.
 */
export async function watchCall<T>(what: string, limitMs: number, p: Promise<T>, calls: Call[], typed: readonly (abstract new (...args: never[]) => Error)[], graceMs: number): Promise<Settled<T>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<"hang">((resolve) => (timer = setTimeout(() => resolve("hang"), limitMs + graceMs)));
  const settled = p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  const r = await Promise.race([settled, hang]);
  clearTimeout(timer);
  const overMs = performance.now() - started - limitMs;
  if (r === "hang") {
    calls.push({ what, outcome: "hang", overMs });
    return undefined;
  }
  if ("value" in r) calls.push({ what, outcome: "value", overMs });
  else {
    const e = r.error;
    calls.push({
      what,
      outcome: typed.some((t) => e instanceof t) ? "typed-error" : "untyped-error",
      errorName: e instanceof Error ? e.name : typeof e,
      error: e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : String(e),
      overMs,
    });
  }
  return r;
}

/** Uncaught exceptions and unhandled rejections while `fn` runs, and for `settleMs` after it (late rejections). */
export async function catchingUncaught<T>(fn: () => Promise<T>, settleMs: number): Promise<{ value: T; uncaught: string[] }> {
  const uncaught: string[] = [];
  const onError = (e: unknown) => uncaught.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  process.on("uncaughtException", onError);
  process.on("unhandledRejection", onError);
  try {
    const value = await fn();
    await new Promise((r) => setTimeout(r, settleMs));
    return { value, uncaught };
  } finally {
    process.off("uncaughtException", onError);
    process.off("unhandledRejection", onError);
  }
}
