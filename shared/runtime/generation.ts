import { z } from "zod";
import { GENERATIONS, OLDEST_WRITTEN_FOR, ganetiRelease, requireGanetiVersion } from "../ganeti/versions";

/**
 * Runtime-file generations (research/ganeti-kvm.md §2.2):
 * - A: `[kvm_cmd, nics, hvparams]`, Ganeti ≤ 2.9 (no slots recorded);
 * - B: 4 entries, devices carry an integer `pci`, Ganeti 2.10 – 2.15 (and 2.16.0beta1);
 * - C: 4 entries, devices carry `hvinfo`, Ganeti 2.16.0beta2+, 3.x.
 * Newer Ganeti reads older files; older Ganeti rejects newer ones.
 */
export const GenerationSchema = z.enum(GENERATIONS);
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

/**
 * The generation a Ganeti version writes (and the newest it reads), from
 * the version table (shared/ganeti/versions.ts). Accepts "2.15.2",
 * "v2.16.0", "2.16.0~beta1-1" (Debian), "2.16.0beta2", "3.0".
 */
export function generationForGanetiVersion(version: string): Generation {
  return ganetiRelease(requireGanetiVersion(version)).generation;
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

/**
 * What a write is for: a generation, and the Ganeti versions that will read
 * the file. A reader rejects NIC and Disk keys it does not know, and the
 * Disk keys grew inside generation B, so the keys written are those every
 * reader accepts. Without `readers`, every reader of the generation the app
 * writes for (OLDEST_WRITTEN_FOR), keeping only the keys a source file of
 * the same generation already carried (its own readers read them).
 */
export interface WriteTarget {
  generation: Generation;
  readers?: readonly string[];
}

/**
 * The target for a file read by `readers`, lowered to `floor` when the admin
 * sets one: then the readers of that older generation may read it too, and
 * all of them are targeted.
 */
export function writeTargetFor(readers: readonly string[], floor?: Generation): Required<WriteTarget> {
  const generation = oldestCommonGeneration(readers, floor);
  const cannot = readers.filter((v) => compareGenerations(generation, ganetiRelease(requireGanetiVersion(v)).oldestReads) < 0);
  if (cannot.length > 0) {
    throw new Error(
      `no runtime-file generation suits every reader: ${readers.join(", ")} need generation ${generation}${floor ? ` (or the floor ${floor})` : ""}, which Ganeti ${cannot.join(", ")} cannot read`,
    );
  }
  const lowered = readers.length === 0 || readers.every((v) => compareGenerations(generationForGanetiVersion(v), generation) > 0);
  return { generation, readers: lowered ? [...readers, OLDEST_WRITTEN_FOR[generation]] : [...readers] };
}
