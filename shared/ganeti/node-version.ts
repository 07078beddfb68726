// A node's Ganeti version: read from the node, not typed. The installed
// code says it best (/etc/ganeti/share -> /usr/share/ganeti/<v>, whose
// ganeti/_constants.py holds RELEASE_VERSION); ssconf_release_version is
// the master's version, which every node of the cluster receives. A version
// typed in the node's settings overrides, and says so when it disagrees.
import { z } from "zod";
import { compareGanetiVersions, parseGanetiVersion } from "./versions";

export const VersionSourceSchema = z.enum(["installed", "ssconf", "typed", "assumed"]);
export type VersionSource = z.infer<typeof VersionSourceSchema>;

export const DetectedVersionSchema = z.object({
  version: z.string(),
  source: z.enum(["installed", "ssconf"]),
  /** Where it was read: "/usr/share/ganeti/3.0/ganeti/_constants.py (RELEASE_VERSION)" or "ssconf_release_version". */
  from: z.string(),
});
export type DetectedVersion = z.infer<typeof DetectedVersionSchema>;

export const NodeVersionSchema = z.object({
  /** The version used (the override when one is typed). */
  version: z.string(),
  source: VersionSourceSchema,
  /** Where it came from, for people. */
  from: z.string(),
  /** What the node itself reports, when it was read. */
  detected: DetectedVersionSchema.optional(),
  /** Set when the typed version disagrees with the detected one. */
  note: z.string().optional(),
});
export type NodeVersion = z.infer<typeof NodeVersionSchema>;

/** RELEASE_VERSION from the text of ganeti/_constants.py (or constants.py of older releases). */
export function releaseVersionFromConstants(text: string): string | undefined {
  const m = /^RELEASE_VERSION\s*=\s*["']([^"'\n]+)["']/m.exec(text);
  return m && parseGanetiVersion(m[1]!) ? m[1] : undefined;
}

/** The major.minor a /usr/share/ganeti/<v> directory names ("3.0"), or undefined. */
export function versionOfShareDir(target: string): string | undefined {
  const m = /\/ganeti\/(\d+\.\d+)\/?$/.exec(target);
  return m?.[1];
}

/**
 * The version the app goes by: the typed one when given (an override, with
 * a note when the node reports another), else the detected one.
 */
export function resolveNodeVersion(typed: string | undefined, detected: DetectedVersion | undefined): NodeVersion | undefined {
  if (typed === undefined) return detected ? { version: detected.version, source: detected.source, from: detected.from, detected } : undefined;
  const base = { version: typed, source: "typed" as const, from: "the node's settings (ganetiVersion)" };
  if (!detected) return base;
  const a = parseGanetiVersion(typed);
  const b = parseGanetiVersion(detected.version);
  const same = a && b ? compareGanetiVersions(a, b) === 0 : typed === detected.version;
  if (same) return { ...base, detected };
  return {
    ...base,
    detected,
    note: `The node's settings say Ganeti ${typed}, but the node reports ${detected.version} (${detected.from}): ${typed} is used as an override. Remove ganetiVersion from the node's settings to go by what the node reports.`,
  };
}
