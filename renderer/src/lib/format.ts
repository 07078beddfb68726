// Small display helpers shared by the views.
import type { NodeStatus } from "../../../shared/node-registry/schema";
import type { VersionSource } from "../../../shared/ganeti/node-version";

export function timeOfDay(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function dateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${timeOfDay(ms)}`;
}

/** "in 12 s", "in 2 min", "now". */
export function until(ms: number, now: number): string {
  const s = Math.round((ms - now) / 1000);
  if (s <= 0) return "now";
  if (s < 90) return `in ${s} s`;
  return `in ${Math.round(s / 60)} min`;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export interface NodeStateText {
  label: string;
  /** A glyph so the state does not depend on colour. */
  icon: string;
  tone: "ok" | "busy" | "warn" | "bad" | "idle";
}

export function nodeStateText(s: NodeStatus, now: number): NodeStateText {
  switch (s.state) {
    case "ready":
      return { label: "ready", icon: "●", tone: "ok" };
    case "connecting":
      return { label: s.attempt && s.attempt > 1 ? `connecting (attempt ${s.attempt})` : "connecting…", icon: "◌", tone: "busy" };
    case "backing-off":
      return { label: s.retryAt ? `retrying ${until(s.retryAt, now)}` : "backing off", icon: "↻", tone: "warn" };
    case "failed":
      return { label: s.hostKey ? `host key ${s.hostKey.verdict}` : s.needs === "passphrase" ? "needs passphrase" : "failed", icon: "✕", tone: "bad" };
    case "disconnected":
      return { label: "disconnected", icon: "○", tone: "idle" };
  }
}

/** Where a node's Ganeti version came from, in a few words. */
export function versionSourceText(source: VersionSource): string {
  switch (source) {
    case "installed":
      return "read on the node";
    case "ssconf":
      return "the cluster's release version";
    case "typed":
      return "typed in the node's settings";
    case "assumed":
      return "assumed from the runtime file";
  }
}
