// OpenSSH known_hosts: which host keys we trust for which host:port.
// Supports plain and hashed (|1|salt|hash) host fields, [host]:port
// patterns, wildcards, negation and the @revoked marker.
import { createHash, createHmac } from "node:crypto";

export interface KnownHostEntry {
  line: number;
  marker: "revoked" | "cert-authority" | null;
  hosts: string;
  keyType: string;
  keyBase64: string;
}

export type HostKeyVerdict =
  | { kind: "trusted"; fingerprint: string }
  | { kind: "unknown"; fingerprint: string; keyType: string }
  | {
      kind: "changed";
      fingerprint: string;
      keyType: string;
      knownFingerprints: string[];
      /** The type of each known key, in the same order (another type than the presented one is just as much a change). */
      knownKeyTypes: string[];
      lines: number[];
    }
  | { kind: "revoked"; fingerprint: string; line: number };

export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The host field OpenSSH writes for a host and port. */
export function hostField(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const parts = line.split(/\s+/);
    let marker: KnownHostEntry["marker"] = null;
    if (parts[0]?.startsWith("@")) {
      const m = parts.shift();
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else return;
    }
    const [hosts, keyType, keyBase64] = parts;
    if (!hosts || !keyType || !keyBase64) return;
    entries.push({ line: i + 1, marker, hosts, keyType, keyBase64 });
  });
  return entries;
}

function globToRegExp(glob: string): RegExp {
  // OpenSSH patterns know only * and ?; "[" and "]" are literal ([host]:port).
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

function hostMatches(hostsField: string, host: string, port: number): boolean {
  const wanted = hostField(host, port);
  if (hostsField.startsWith("|1|")) {
    const [, , salt, hash] = hostsField.split("|");
    if (!salt || !hash) return false;
    const h = createHmac("sha1", Buffer.from(salt, "base64")).update(wanted).digest("base64");
    return h === hash;
  }
  let matched = false;
  for (const pattern of hostsField.split(",")) {
    const negated = pattern.startsWith("!");
    const p = negated ? pattern.slice(1) : pattern;
    if (globToRegExp(p).test(wanted)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

export function verifyHostKey(knownHostsText: string, host: string, port: number, keyBlob: Buffer, keyType: string): HostKeyVerdict {
  const fingerprint = fingerprintOf(keyBlob);
  const presented = keyBlob.toString("base64");
  const entries = parseKnownHosts(knownHostsText);
  const revoked = entries.find((e) => e.marker === "revoked" && e.keyBase64 === presented);
  if (revoked) return { kind: "revoked", fingerprint, line: revoked.line };
  const forHost = entries.filter((e) => e.marker === null && hostMatches(e.hosts, host, port));
  if (forHost.some((e) => e.keyBase64 === presented)) return { kind: "trusted", fingerprint };
  // Any key known for the host makes a key we do not know a change, whatever
  // its type: a server that used to prove itself with ed25519 and now offers
  // only ssh-rsa is as suspicious as one with another ed25519 key. (The
  // client asks for the known types first, so a host that still has its
  // known key is never judged by another one; see knownHostKeyTypes.)
  if (forHost.length > 0) {
    // Keys of the presented type first: they are the ones it replaced.
    const ordered = [...forHost.filter((e) => e.keyType === keyType), ...forHost.filter((e) => e.keyType !== keyType)];
    return {
      kind: "changed",
      fingerprint,
      keyType,
      knownFingerprints: ordered.map((e) => fingerprintOf(Buffer.from(e.keyBase64, "base64"))),
      knownKeyTypes: ordered.map((e) => e.keyType),
      lines: ordered.map((e) => e.line),
    };
  }
  return { kind: "unknown", fingerprint, keyType };
}

/** Key types known_hosts trusts for host:port (not revoked, not CA lines), in file order, each once. */
export function knownHostKeyTypes(knownHostsText: string, host: string, port: number): string[] {
  const types = parseKnownHosts(knownHostsText)
    .filter((e) => e.marker === null && hostMatches(e.hosts, host, port))
    .map((e) => e.keyType);
  return [...new Set(types)];
}

/** The line to append when the user trusts a key. */
export function knownHostsLine(host: string, port: number, keyType: string, keyBlob: Buffer): string {
  return `${hostField(host, port)} ${keyType} ${keyBlob.toString("base64")}\n`;
}

/** The key type name stored inside an SSH public key blob. */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "unknown";
  const len = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + len).toString("ascii");
}
