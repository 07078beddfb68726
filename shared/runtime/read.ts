/**
 * readRuntime: parse a runtime file (Python json), detect its generation,
 * validate it (errors name the entry path, e.g. `nics[1].pci: expected
 * integer 0-31`) and upgrade it in memory (upgrade.ts).
 */
import type { z } from "zod";
import { PyDict, PyFloat, PyJsonError, parsePyJson, toPlain, type PlainValue, type PyValue } from "../pyjson";
import { RuntimeReadError } from "./errors";
import type { Generation } from "./generation";
import {
  DISK_SLOTS,
  DiskSchema,
  HvParamsSchema,
  NIC_SLOTS,
  KvmCmdSchema,
  NicSchema,
  type DiskEntry,
  type HvParams,
  type KvmCmd,
  type Nic,
  type Runtime,
  type RuntimeNote,
} from "./schema";
import { upgradeRuntime } from "./upgrade";

export interface RuntimeDocument {
  /** The oldest generation whose readers accept the file as it is. */
  generation: Generation;
  /** The upgraded model (generation C's shape), with `origin` set. */
  runtime: Runtime;
  notes: RuntimeNote[];
  sourceText: string;
}

/** The file's top-level entries, still as PyValues (exact). */
export interface RawRuntime {
  kvmCmd: PyValue[];
  nics: PyDict[];
  hvparams: PyDict;
  /** null for a 3-entry file. */
  disks: PyValue[][] | null;
}

function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let s = prefix;
  for (const p of path) s += typeof p === "number" ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(p)) ? `.${String(p)}` : `[${JSON.stringify(String(p))}]`;
  return s;
}

function validate<S extends z.ZodType>(schema: S, value: unknown, prefix: string, issues: string[]): z.infer<S> | undefined {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  for (const i of r.error.issues) issues.push(`${formatPath(prefix, i.path)}: ${i.message}`);
  return undefined;
}

/**
 * Ganeti's loader (serializer.LoadJson) wraps whatever sits under these keys,
 * anywhere in the file, as secrets: it fails on a value that is not a dict
 * and writes the values back as null (constants.PRIVATE_PARAMETERS_BLACKLIST).
 */
const GANETI_PRIVATE_KEYS = new Set(["osparams_private", "osparams_secret", "osparams_private_cluster"]);

function findReservedKey(v: PyValue, path: string): string | null {
  if (v instanceof PyDict) {
    for (const [k, item] of v.entries()) {
      if (k === "__proto__") return `${path}: the key "__proto__" is not supported`;
      if (GANETI_PRIVATE_KEYS.has(k)) {
        return `${path}: the key ${JSON.stringify(k)} is one Ganeti treats as a secret: its loader fails on it unless it holds a dict, and writes its values back as null; a runtime file has none`;
      }
      const r = findReservedKey(item, `${path}.${k}`);
      if (r) return r;
    }
  } else if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = findReservedKey(v[i] as PyValue, `${path}[${i}]`);
      if (r) return r;
    }
  }
  return null;
}

/**
 * Ganeti builds NIC and Disk objects with `cls(**dict)`, which raises
 * TypeError on a key that is not one of the class's slots, so a file with
 * one does not load at all (a disk's children are Disks too). A DRBD disk
 * also needs its logical_id list (Disk.FromDict takes its length).
 */
function objectKeyIssues(d: PyDict, kind: "NIC" | "Disk", where: string, issues: string[]): void {
  const slots: readonly string[] = kind === "NIC" ? NIC_SLOTS : DISK_SLOTS;
  for (const k of d.keys()) {
    if (!slots.includes(k)) {
      issues.push(`${where}: ${JSON.stringify(k)} is not a ${kind} key Ganeti knows (${slots.join(", ")}): Ganeti's loader fails on it (TypeError)`);
    }
  }
  if (kind === "Disk") {
    if (d.get("dev_type") === "drbd" && !Array.isArray(d.get("logical_id"))) {
      issues.push(`${where}.logical_id: a DRBD disk needs its logical_id list: Ganeti's loader fails without it (TypeError)`);
    }
    const children = d.get("children");
    if (Array.isArray(children)) children.forEach((c, i) => c instanceof PyDict && objectKeyIssues(c, "Disk", `${where}.children[${i}]`, issues));
  }
}

/** Parse and check the top-level structure; no upgrade. */
export function parseRawRuntime(text: string): RawRuntime {
  let top: PyValue;
  try {
    top = parsePyJson(text);
  } catch (e) {
    if (e instanceof PyJsonError) throw new RuntimeReadError([`not valid JSON: ${e.message}`]);
    throw e;
  }
  if (!Array.isArray(top)) throw new RuntimeReadError(["expected a JSON array [kvm_cmd, nics, hvparams(, disks)] at the top level"]);
  if (top.length !== 3 && top.length !== 4) {
    throw new RuntimeReadError([`expected 3 entries (Ganeti ≤ 2.9) or 4 entries (Ganeti 2.10+) at the top level, got ${top.length}`]);
  }
  const reserved = findReservedKey(top, "runtime");
  if (reserved) throw new RuntimeReadError([reserved]);
  const [kvmCmd, nics, hvparams, disks] = top;
  const issues: string[] = [];
  if (!Array.isArray(kvmCmd)) issues.push("kvm_cmd: expected a list");
  if (!Array.isArray(nics)) issues.push("nics: expected a list");
  else nics.forEach((n, i) => { if (!(n instanceof PyDict)) issues.push(`nics[${i}]: expected an object`); });
  if (!(hvparams instanceof PyDict)) issues.push("hvparams: expected an object");
  if (top.length === 4) {
    if (!Array.isArray(disks)) issues.push("disks: expected a list");
    else {
      disks.forEach((d, i) => {
        if (!Array.isArray(d) || d.length !== 3) issues.push(`disks[${i}]: expected [disk, link_name, uri] (3 entries)`);
        else if (!(d[0] instanceof PyDict)) issues.push(`disks[${i}].disk: expected an object`);
      });
    }
  }
  if (issues.length) throw new RuntimeReadError(issues);
  return {
    kvmCmd: kvmCmd as PyValue[],
    nics: nics as PyDict[],
    hvparams: hvparams as PyDict,
    disks: top.length === 4 ? (disks as PyValue[][]) : null,
  };
}

/** Validate the plain view of a raw runtime (paths as in the file). */
export function validateRawRuntime(raw: RawRuntime): { kvmCmd: KvmCmd; nics: Nic[]; hvparams: HvParams; disks: DiskEntry[] | null } {
  const issues: string[] = [];
  const kvmCmd = validate(KvmCmdSchema, toPlain(raw.kvmCmd), "kvm_cmd", issues);
  const nics = raw.nics.map((n, i) => validate(NicSchema, toPlain(n), `nics[${i}]`, issues));
  const hvparams = validate(HvParamsSchema, toPlain(raw.hvparams), "hvparams", issues);
  const disks =
    raw.disks === null
      ? null
      : raw.disks.map((e, i) => {
          const disk = validate(DiskSchema, toPlain(e[0] as PyValue), `disks[${i}].disk`, issues);
          const linkName: PlainValue = toPlain(e[1] as PyValue);
          const uri: PlainValue = toPlain(e[2] as PyValue);
          if (typeof linkName !== "string") issues.push(`disks[${i}].linkName: expected the disk symlink path (string)`);
          if (uri !== null && typeof uri !== "string") issues.push(`disks[${i}].uri: expected a string or null`);
          return { disk, linkName, uri } as DiskEntry;
        });
  // The plain view turns 7.0 into 7; Ganeti's hex()/bitarray need real ints.
  const intOnly = (d: PyValue | undefined, where: string): void => {
    if (!(d instanceof PyDict)) return;
    if (d.get("pci") instanceof PyFloat) issues.push(`${where}.pci: expected integer 0-31`);
    const h = d.get("hvinfo");
    if (h instanceof PyDict) {
      for (const k of ["channel", "scsi-id", "lun"]) if (h.get(k) instanceof PyFloat) issues.push(`${where}.hvinfo.${k}: expected an integer`);
    }
  };
  raw.nics.forEach((n, i) => intOnly(n, `nics[${i}]`));
  (raw.disks ?? []).forEach((e, i) => intOnly(e[0], `disks[${i}].disk`));
  raw.nics.forEach((n, i) => objectKeyIssues(n, "NIC", `nics[${i}]`, issues));
  (raw.disks ?? []).forEach((e, i) => e[0] instanceof PyDict && objectKeyIssues(e[0], "Disk", `disks[${i}].disk`, issues));
  if (issues.length) throw new RuntimeReadError(issues);
  return { kvmCmd: kvmCmd as KvmCmd, nics: nics as Nic[], hvparams: hvparams as HvParams, disks };
}

function detectGeneration(v: ReturnType<typeof validateRawRuntime>, entries: number, notes: RuntimeNote[]): Generation {
  const devices = [...v.nics, ...(v.disks ?? []).map((e) => e.disk)];
  const hasHvinfo = devices.some((d) => d.hvinfo !== undefined);
  const hasPci = devices.some((d) => d.pci !== undefined);
  if (entries === 3) {
    if (!hasHvinfo && !hasPci) return "A";
    const g: Generation = hasHvinfo ? "C" : "B";
    notes.push({
      rule: "generation",
      detail: `3-entry file whose NICs carry ${hasHvinfo ? "hvinfo" : "pci"}: Ganeti ≤ 2.9 rejects it; treated as generation ${g}, the oldest whose readers accept it`,
    });
    return g;
  }
  if (hasHvinfo) return "C";
  if (hasPci) return "B";
  notes.push({
    rule: "generation",
    detail: "4-entry file where no device records a slot (neither pci nor hvinfo): treated as generation B (Ganeti 2.10–2.15), the oldest 4-entry generation that can express it; generation C readers accept it too",
  });
  return "B";
}

export function readRuntime(text: string): RuntimeDocument {
  const raw = parseRawRuntime(text);
  const v = validateRawRuntime(raw);
  const notes: RuntimeNote[] = [];
  const generation = detectGeneration(v, raw.disks === null ? 3 : 4, notes);
  const up = upgradeRuntime(v);
  notes.push(...up.notes);
  return {
    generation,
    runtime: { kvmCmd: up.kvmCmd, nics: up.nics, hvparams: up.hvparams, disks: up.disks, origin: { text } },
    notes,
    sourceText: text,
  };
}
