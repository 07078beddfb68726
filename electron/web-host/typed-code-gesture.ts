// The web host's trust gesture: a one-time code printed only in the
// terminal that started the web host, typed back into the page. A client
// that holds the token but not that terminal cannot trust a key; guessing
// is bounded (8 digits, 3 tries per code, 5 minutes).
import { randomInt, timingSafeEqual } from "node:crypto";
import type { GestureResult, HostKeyToTrust, TrustGesture } from "../node-registry/trust-gesture.js";
import { nodeKeyFile } from "../node-registry/host-trust.js";

export const CODE_DIGITS = 8;
export const CODE_TRIES = 3;
export const CODE_TTL_MS = 5 * 60_000;

interface Issued {
  code: string;
  expires: number;
  triesLeft: number;
}

function newCode(): string {
  let s = "";
  for (let i = 0; i < CODE_DIGITS; i++) s += String(randomInt(10));
  return s;
}

/** "1234 5678" as printed; the user may type it with or without spaces or dashes. */
function shown(code: string): string {
  return `${code.slice(0, 4)} ${code.slice(4)}`;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function typedCodeGesture(opts: {
  /** Writes to the terminal that started the web host (never to the page or a log). */
  terminal: (text: string) => void;
  now?: () => number;
}): TrustGesture {
  const now = opts.now ?? Date.now;
  // One code per (node, key): a code never confirms another key.
  const issued = new Map<string, Issued>();
  const PROMPT = "Type the one-time code printed in the terminal where Hotplug Desk was started (it proves you are at this computer, not just holding the page's address).";

  const issue = (key: HostKeyToTrust, why: string): GestureResult => {
    const code = newCode();
    issued.set(`${key.nodeId}\n${key.fingerprint}`, { code, expires: now() + CODE_TTL_MS, triesLeft: CODE_TRIES });
    opts.terminal(
      `\nTrust request for the host key of ${key.nodeName} (${key.target}):\n    ${key.keyType} ${key.fingerprint}\n` +
        (key.vouched ? `${key.vouched}\n` : "") +
        `Compare it with the node's own key (ssh-keygen -lf ${nodeKeyFile(key.keyType)} on the node). If it matches, type this code in the browser:\n\n    ${shown(code)}\n\n` +
        `(valid ${Math.round(CODE_TTL_MS / 60_000)} minutes, for this key only; if you did not ask to trust a key, someone else is using this app's address.)\n`,
    );
    return { kind: "code-needed", prompt: why ? `${why} ${PROMPT}` : PROMPT };
  };

  return {
    async confirm(key, typed) {
      const id = `${key.nodeId}\n${key.fingerprint}`;
      const current = issued.get(id);
      if (typed === undefined || typed.trim() === "") return issue(key, "");
      if (!current) return issue(key, "No code is waiting for this key; a new one was printed.");
      if (now() > current.expires) return issue(key, "That code had expired; a new one was printed.");
      if (same(typed.replace(/[\s-]/g, ""), current.code)) {
        issued.delete(id);
        return { kind: "confirmed", how: "confirmed with the one-time code from the web host's terminal" };
      }
      current.triesLeft -= 1;
      if (current.triesLeft <= 0) {
        issued.delete(id);
        return { kind: "declined", reason: `That code is wrong, ${CODE_TRIES} times: it is no longer valid. Ask again for a new code; nothing was trusted.` };
      }
      return { kind: "declined", reason: `That code is wrong (${current.triesLeft} ${current.triesLeft === 1 ? "try" : "tries"} left); nothing was trusted.` };
    },
  };
}
