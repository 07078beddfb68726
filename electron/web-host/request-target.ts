// The path of an HTTP request target, for the web host's routing. Anything
// that is not a plain origin-form path ("/a/b?x") with valid escapes is
// refused here (the caller answers 400), so no decoding or URL parsing can
// throw later on input a client chose.

/** Longest request target we look at; the UI's own paths are short. */
export const MAX_TARGET_LENGTH = 2048;

export type RequestTarget = { ok: true; path: string } | { ok: false; reason: string };

export function parseRequestTarget(target: string | undefined): RequestTarget {
  if (target === undefined || target.length === 0) return { ok: false, reason: "no request target" };
  if (target.length > MAX_TARGET_LENGTH) return { ok: false, reason: `request target longer than ${MAX_TARGET_LENGTH} characters` };
  // Origin-form only: absolute-form ("http://x/") and authority-form are for proxies.
  if (!target.startsWith("/")) return { ok: false, reason: "request target is not a path" };
  const end = target.search(/[?#]/);
  const raw = end === -1 ? target : target.slice(0, end);
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    return { ok: false, reason: "bad %-escape in the path" };
  }
  // NUL and other control characters never name a file of ours.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return { ok: false, reason: "control character in the path" };
  return { ok: true, path };
}
