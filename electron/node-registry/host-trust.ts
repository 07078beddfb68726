// Host-key trust across two known_hosts files: the app's own (writable) and
// the user's ~/.ssh/known_hosts (read-only). A key is trusted if either file
// trusts it; it is "changed" if neither trusts it and either holds a different
// key of the same type; "revoked" if either marks it @revoked.
//
// NodeSession.open checks one known_hosts file, so both files are joined into
// one text; line numbers are mapped back to (file, line) for messages.
import { HostKeyError } from "../ssh/session.js";
import { hostField, keyTypeOfBlob, parseKnownHosts, verifyHostKey } from "../ssh/known-hosts.js";
import type { NodeHostKeyProblem } from "../../shared/node-registry/schema.js";
import type { KnownHostsSource } from "./settings-store.js";

export interface KnownHostsLocation {
  file: string;
  line: number;
}

export interface CombinedKnownHosts {
  text: string;
  locate(line: number): KnownHostsLocation;
}

export function combineKnownHosts(sources: readonly KnownHostsSource[]): CombinedKnownHosts {
  const ranges: { path: string; first: number; count: number }[] = [];
  let text = "";
  let lines = 0;
  for (const s of sources) {
    const body = s.text === "" || s.text.endsWith("\n") ? s.text : `${s.text}\n`;
    const count = body.split("\n").length - 1;
    ranges.push({ path: s.path, first: lines + 1, count });
    text += body;
    lines += count;
  }
  return {
    text,
    locate(line) {
      const r = ranges.find((x) => line >= x.first && line < x.first + x.count);
      return r ? { file: r.path, line: line - r.first + 1 } : { file: "(unknown file)", line };
    },
  };
}

export type HostKeyCheck = { kind: "trusted"; fingerprint: string; keyType: string } | ({ kind: NodeHostKeyProblem["verdict"] } & NodeHostKeyProblem);

function keyTypeAtLine(combined: CombinedKnownHosts, line: number): string | undefined {
  return parseKnownHosts(combined.text).find((e) => e.line === line)?.keyType;
}

/** The verdict NodeSession.open reached on the combined text, with lines mapped back to files. */
export function problemFromHostKeyError(err: HostKeyError, combined: CombinedKnownHosts): NodeHostKeyProblem {
  const v = err.verdict;
  const jump = err.presenter.role === "jump host" ? { jumpHost: { host: err.presenter.host, port: err.presenter.port } } : {};
  switch (v.kind) {
    case "unknown":
      return { verdict: "unknown", fingerprint: v.fingerprint, keyType: v.keyType, ...jump };
    case "changed":
      return {
        verdict: "changed",
        fingerprint: v.fingerprint,
        keyType: v.keyType,
        knownFingerprints: v.knownFingerprints,
        knownKeyTypes: v.knownKeyTypes,
        knownAt: v.lines.map((l) => combined.locate(l)),
        ...jump,
      };
    case "revoked":
      return { verdict: "revoked", fingerprint: v.fingerprint, keyType: keyTypeAtLine(combined, v.line) ?? "unknown", knownAt: [combined.locate(v.line)], ...jump };
  }
}

/** Checks a presented key blob against both files (used before trusting a key). */
export function checkHostKey(sources: readonly KnownHostsSource[], host: string, port: number, keyBlob: Buffer): HostKeyCheck {
  const combined = combineKnownHosts(sources);
  const keyType = keyTypeOfBlob(keyBlob);
  const v = verifyHostKey(combined.text, host, port, keyBlob, keyType);
  switch (v.kind) {
    case "trusted":
      return { kind: "trusted", fingerprint: v.fingerprint, keyType };
    case "unknown":
      return { kind: "unknown", verdict: "unknown", fingerprint: v.fingerprint, keyType };
    case "changed":
      return {
        kind: "changed",
        verdict: "changed",
        fingerprint: v.fingerprint,
        keyType,
        knownFingerprints: v.knownFingerprints,
        knownKeyTypes: v.knownKeyTypes,
        knownAt: v.lines.map((l) => combined.locate(l)),
      };
    case "revoked":
      return { kind: "revoked", verdict: "revoked", fingerprint: v.fingerprint, keyType, knownAt: [combined.locate(v.line)] };
  }
}

/** Where the node keeps its host key of this type (for "ssh-keygen -lf" on the node). */
export function nodeKeyFile(keyType: string): string {
  if (keyType === "ssh-ed25519") return "/etc/ssh/ssh_host_ed25519_key.pub";
  if (keyType.startsWith("ecdsa-")) return "/etc/ssh/ssh_host_ecdsa_key.pub";
  if (keyType === "ssh-rsa" || keyType.startsWith("rsa-")) return "/etc/ssh/ssh_host_rsa_key.pub";
  return "/etc/ssh/ssh_host_*_key.pub";
}

function where(locations: readonly KnownHostsLocation[] | undefined): string {
  if (!locations || locations.length === 0) return "known_hosts";
  return locations.map((l) => `${l.file} line ${l.line}`).join(", ");
}

/** "ssh-ed25519 SHA256:…, …" (types where known). */
function knownKeys(p: NodeHostKeyProblem): string {
  return (p.knownFingerprints ?? []).map((f, i) => (p.knownKeyTypes?.[i] ? `${p.knownKeyTypes[i]} ${f}` : f)).join(", ");
}

/** What to tell a person about a host-key problem, including the next step. */
export function describeHostKeyProblem(nodeLabel: string, nodeHost: string, nodePort: number, p: NodeHostKeyProblem): string {
  // A jump host's key is about the jump host: its name, its known_hosts line.
  const label = p.jumpHost ? `the jump host ${p.jumpHost.host}:${p.jumpHost.port} (on the way to ${nodeLabel})` : nodeLabel;
  const host = p.jumpHost?.host ?? nodeHost;
  const port = p.jumpHost?.port ?? nodePort;
  switch (p.verdict) {
    case "unknown": {
      const e = p.expected;
      const vouched = e ? (e.matches ? ` It is the key ${e.source} lists for the cluster's nodes.` : ` It is NOT the key ${e.source} lists (${e.keyType} ${e.fingerprint}): do not trust it unless you know why.`) : "";
      return `The host key of ${label} is not trusted yet: it presents ${p.keyType} ${p.fingerprint}.${vouched} Compare it with the ${p.jumpHost ? "jump host" : "node"}'s own (ssh-keygen -lf ${nodeKeyFile(p.keyType)} on the ${p.jumpHost ? "jump host" : "node"}) and trust it only if they match.`;
    }
    case "changed": {
      const files = [...new Set((p.knownAt ?? []).map((l) => l.file))];
      const remove = files.map((f) => `ssh-keygen -R "${hostField(host, port)}" -f ${f}`).join("; ");
      return (
        `The host key of ${label} CHANGED: it now presents ${p.keyType} ${p.fingerprint}, but ${where(p.knownAt)} trusts ${knownKeys(p)}. ` +
        (p.knownKeyTypes && !p.knownKeyTypes.includes(p.keyType) ? `A node that proved itself with ${p.knownKeyTypes.join(" / ")} and now offers only ${p.keyType} is as suspect as one with a new key. ` : "") +
        `Refusing to connect: this can mean someone is intercepting the connection. If the node was reinstalled, remove the old line (${where(p.knownAt)}${remove ? `, e.g. ${remove}` : ""}), connect again and trust the new key.`
      );
    }
    case "revoked":
      return `The host key of ${label} (${p.keyType} ${p.fingerprint}) is marked @revoked in ${where(p.knownAt)}. Refusing to connect; ask whoever runs the node for its current key.`;
  }
}
