// Host names, login names and "user@host:port" as people type them. Pure.
import { z } from "zod";

// RFC 1123 labels; "_" is tolerated because real ssh configs use it.
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
export const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export function isValidHost(host: string): boolean {
  return HOSTNAME_RE.test(host) || z.ipv4().safeParse(host).success || z.ipv6().safeParse(host).success;
}

/** Splits "user@host:port" / "user@[v6]:port"; a bare IPv6 address stays whole. */
export function splitHostInput(input: string): { host: string; user?: string; port?: string } {
  let rest = input;
  let user: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at > 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(rest);
  if (bracketed) return { host: bracketed[1] ?? "", user, port: bracketed[2] };
  const colons = rest.split(":").length - 1;
  if (colons === 1) {
    const [h, p] = rest.split(":");
    return { host: h ?? "", user, port: p };
  }
  return { host: rest, user };
}
