import { z } from "zod";

/**
 * Runtime-file generations (research/ganeti-kvm.md §2.2):
 * - A: `[kvm_cmd, nics, hvparams]`, Ganeti ≤ 2.9 (no slots recorded);
 * - B: 4 entries, devices carry an integer `pci`, Ganeti 2.10 – 2.15 (and 2.16.0beta1);
 * - C: 4 entries, devices carry `hvinfo`, Ganeti 2.16.0beta2+, 3.x.
 * Newer Ganeti reads older files; older Ganeti rejects newer ones.
 */
export const GenerationSchema = z.enum(["A", "B", "C"]);
export type Generation = z.infer<typeof GenerationSchema>;

export const GENERATION_LABEL: Record<Generation, string> = {
  A: "Ganeti ≤ 2.9",
  B: "Ganeti 2.10–2.15",
  C: "Ganeti 2.16+",
};

const ORDER: Record<Generation, number> = { A: 0, B: 1, C: 2 };

/** Negative when `a` is older than `b`. */
export function compareGenerations(a: Generation, b: Generation): number {
  return ORDER[a] - ORDER[b];
}

export function olderGeneration(a: Generation, b: Generation): Generation {
  return compareGenerations(a, b) <= 0 ? a : b;
}

const VERSION_RE = /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(.*)$/;

/**
 * The generation a Ganeti version writes (and the newest it reads).
 * Accepts "2.15.2", "v2.16.0", "2.16.0~beta1-1" (Debian), "2.16.0beta2", "3.0".
 */
export function generationForGanetiVersion(version: string): Generation {
  const m = VERSION_RE.exec(version);
  if (!m) throw new Error(`not a Ganeti version: ${JSON.stringify(version)} (expected e.g. "2.15.2" or "3.0.2")`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const patch = Number(m[3] ?? "0");
  const rest = (m[4] ?? "").toLowerCase();
  if (major < 2) return "A";
  if (major > 2) return "C";
  if (minor <= 9) return "A";
  if (minor <= 15) return "B";
  if (minor === 16 && patch === 0) {
    // hvinfo arrived in 2.16.0beta2; 2.16.0beta1 still wrote `pci`.
    const beta = /^[~.-]?beta(\d+)/.exec(rest);
    if (beta && Number(beta[1]) < 2) return "B";
  }
  return "C";
}

/**
 * The generation every node can read: the oldest generation among the node
 * versions, lowered further to `floor` when the admin sets one (e.g. to keep
 * a downgrade or a migration to an older node possible).
 */
export function oldestCommonGeneration(nodeVersions: readonly string[], floor?: Generation): Generation {
  if (nodeVersions.length === 0 && floor === undefined) {
    throw new Error("no node versions and no floor generation given: cannot choose a runtime-file generation");
  }
  let gen: Generation = floor ?? "C";
  for (const v of nodeVersions) gen = olderGeneration(gen, generationForGanetiVersion(v));
  return gen;
}
