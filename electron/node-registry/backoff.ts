// Capped exponential backoff with jitter, so many nodes that dropped at the
// same moment (a switch reboot) do not all reconnect in lockstep.

export interface BackoffPolicy {
  /** Delay after the first failure. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  factor: number;
  /** Fraction (0..1) the delay may be shortened by at random. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000, factor: 2, jitter: 0.2 };

/** Delay before the next attempt after `failures` consecutive failures (>= 1). */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(failures));
  // Exponent capped so factor ** n never overflows to Infinity.
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.min(n - 1, 64));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(base * (1 - jitter * r)));
}
