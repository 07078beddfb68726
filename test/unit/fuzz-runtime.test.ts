// Fuzzing runtime files (issue 13, item 7): at least 10,000 mutations of
// files of all three generations, from our fixtures, Ganeti's upstream test
// file and files Ganeti 3.0.2's own code writes. Each mutated file must be
// refused with a clear RuntimeReadError, or read and written back to the
// same model (byte for byte where the input was already in Ganeti's layout),
// never crash, never hang. A sample of the accepted ones goes through Ganeti
// 3.0.2's own loader (utils.ReadFile and _AnalyzeSerializedRuntime, one
// python3 process), which must load them and see the same devices; a change
// planned on each (shared/hotplug) must write a file that Ganeti loads.
//
// Deterministic: fast-check draws the mutations with a fixed seed.
// FUZZ_SEED=N, FUZZ_FILES=N and FUZZ_GANETI=N change the seed, the number of
// files and the size of the Ganeti sample; when one fails, FUZZ_FULL=1 shows
// whole files instead of excerpts and FUZZ_DUMP=FILE writes every finding.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { planHotplug, type InstanceSnapshot } from "../../shared/hotplug";
import { PyDict, dumpGanetiJson, parsePyJson, plainEqual, toPlain, type PlainValue } from "../../shared/pyjson";
import type { LivePciDevice } from "../../shared/qmp/query-pci";
import {
  RuntimeReadError,
  RuntimeWriteError,
  driverForHvparams,
  parseRawRuntime,
  readRuntime,
  writeRuntime,
  type Generation,
  type Runtime,
  type RuntimeDocument,
} from "../../shared/runtime";
import type { LiveScsiTarget } from "../../shared/slots";
import { GANETI_30, ganetiText, requirePeer, withoutChroot, type Op } from "../conformance/ganeti-peers";
import { FuzzCase, caseBytes, type Seed } from "./fuzz-runtime-cases";
import { FIXTURES, newDevicesRuntime, upstreamRuntimePath } from "./runtime-fixtures";

const SEED = Number(process.env.FUZZ_SEED ?? 20130007);
const FILES = Number(process.env.FUZZ_FILES ?? 10_000);
const GANETI_SAMPLE = Number(process.env.FUZZ_GANETI ?? 300);
/** A parse that has not finished after this long is a hang (typical: well under 1 ms). */
const HANG_MS = 10_000;

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

// ------------------------------------------------------------------ seeds

/** Python's answer (it may hold NaN or Infinity) as plain values. */
function ganetiPlain(ops: Op[]): GanetiAnswer[] {
  return toPlain(parsePyJson(ganetiText(GANETI_30, ops), { maxChars: 1 << 28 })) as unknown as GanetiAnswer[];
}

interface GanetiAnswer {
  ok: boolean;
  error?: string;
  text?: string;
  resaved?: string;
  kvm_cmd: PlainValue[];
  hvparams: Record<string, PlainValue>;
  nics: { dict: Record<string, PlainValue> }[];
  disks: { dict: Record<string, PlainValue>; link: PlainValue; uri: PlainValue }[];
}

/**
 * Our fixtures as they are on disk (A, B, C), Ganeti's upstream test file as
 * shipped (pretty-printed, C), and files Ganeti 3.0.2's own code wrote (C):
 * its re-save of each fixture and a runtime it serialized from objects.
 */
function loadSeeds(): Seed[] {
  const ours = readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".runtime"))
    .sort()
    .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(path.join(FIXTURES, f))) }));
  const upstream = { name: "upstream kvm_runtime.json", bytes: new Uint8Array(readFileSync(upstreamRuntimePath())) };
  const rt = newDevicesRuntime();
  const ops: Op[] = [
    { op: "save", kvm_cmd: rt.kvmCmd, nics: rt.nics, hvparams: rt.hvparams, disks: rt.disks.map((e) => [e.disk, e.linkName, e.uri]) },
    ...ours.map((s) => ({ op: "load_file" as const, base64: Buffer.from(s.bytes).toString("base64") })),
  ];
  const answers = ganetiPlain(ops);
  const byGaneti = answers.map((a, i) => {
    const text = i === 0 ? a.text : a.resaved;
    if (!a.ok || typeof text !== "string") throw new Error(`Ganeti 3.0.2 could not write seed ${i}: ${a.error}`);
    return { name: i === 0 ? "Ganeti 3.0.2's serialization of new devices" : `Ganeti 3.0.2's re-save of ${ours[i - 1]?.name}`, bytes: encode(text) };
  });
  return [...ours, upstream, ...byGaneti];
}

// ------------------------------------------------------- one file, guarded

class Crash extends Error {
  constructor(
    readonly stage: string,
    override readonly cause: unknown,
  ) {
    super(`${stage}: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`);
  }
}

type Examined =
  | { kind: "not-utf8" }
  | { kind: "refused"; error: RuntimeReadError }
  | {
      kind: "accepted";
      text: string;
      doc: RuntimeDocument;
      threeEntries: boolean;
      /** The text in Ganeti's layout (json.dumps, trailing newline). */
      canonical: string;
      written?: string;
      writeRefused?: RuntimeWriteError;
      reread?: RuntimeDocument | RuntimeReadError;
    };

/** Everything our code does with a file's bytes: decode, read, write back, read what was written. */
function examine(bytes: Uint8Array): Examined {
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch {
    return { kind: "not-utf8" };
  }
  let doc: RuntimeDocument;
  try {
    doc = readRuntime(text);
  } catch (e) {
    if (e instanceof RuntimeReadError) return { kind: "refused", error: e };
    throw new Crash("readRuntime", e);
  }
  const out: Examined = { kind: "accepted", text, doc, threeEntries: parseRawRuntime(text).disks === null, canonical: dumpGanetiJson(parsePyJson(text)) };
  try {
    out.written = writeRuntime(doc.runtime, doc.generation);
  } catch (e) {
    if (!(e instanceof RuntimeWriteError)) throw new Crash(`writeRuntime(${doc.generation})`, e);
    out.writeRefused = e;
  }
  if (out.written !== undefined) {
    try {
      out.reread = readRuntime(out.written);
    } catch (e) {
      if (!(e instanceof RuntimeReadError)) throw new Crash("readRuntime of our write", e);
      out.reread = e;
    }
  }
  return out;
}

// A vm script's timeout interrupts synchronous code, so a parse that loops
// forever is reported as a hang instead of stopping the test run.
const guardContext = vm.createContext({ run: (): unknown => undefined });
const guardScript = new vm.Script("run()");
function guarded<T>(fn: () => T): { value: T } | { hang: true } {
  (guardContext as { run: () => unknown }).run = fn;
  try {
    return { value: guardScript.runInContext(guardContext, { timeout: HANG_MS }) as T };
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_SCRIPT_EXECUTION_TIMEOUT") return { hang: true };
    throw e;
  }
}

/** A refusal names where the problem is (an entry path) or what is wrong with the text. */
const ISSUE = /^(not valid JSON: |expected |(runtime|kvm_cmd|nics|hvparams|disks)\b.*?: ).+/s;

const model = (rt: Runtime) => ({ kvmCmd: rt.kvmCmd, nics: rt.nics, hvparams: rt.hvparams, disks: rt.disks });
const excerpt = (s: string): string => (!process.env.FUZZ_FULL && s.length > 600 ? `${s.slice(0, 300)} … ${s.slice(-300)}` : s);
/** The paths where two plain values differ, with both values ([] when equal). */
function plainDiff(a: unknown, b: unknown, at = ""): string[] {
  if (plainEqual(a, b)) return [];
  const show = (v: unknown): string => (typeof v === "bigint" ? `${v}n` : typeof v === "number" && !Number.isFinite(v) ? String(v) : (JSON.stringify(v) ?? String(v)));
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) return a.flatMap((x, i) => plainDiff(x, b[i], `${at}[${i}]`));
  if (obj(a) && obj(b)) return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((k) => plainDiff(a[k], b[k], `${at}.${k}`));
  return [`${at || "(top)"}: ${show(a)} ≠ ${show(b)}`];
}

/** Where two texts part, with some context. */
function firstDiff(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  const from = Math.max(0, i - 80);
  return `at char ${i}:\n    ${JSON.stringify(a.slice(from, i + 80))}\n    ${JSON.stringify(b.slice(from, i + 80))}`;
}

// --------------------------------------------- what Ganeti and we each see

const NIC_FIELDS = ["uuid", "mac", "nicparams", "hvinfo", "pci"];
const DISK_FIELDS = ["uuid", "hvinfo", "pci", "dev_type", "size", "mode", "iv_name"];

/** The fields a hotplug or a migration uses; None/null is dropped, as Ganeti's ToDict drops it. */
function fields(d: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of names) if (d[k] !== undefined && d[k] !== null) out[k] = d[k];
  return out;
}

/**
 * Where Ganeti and we differ and both are right: a NIC without uuid gets a
 * random one from Ganeti on every load (and, with a pci slot, an hvinfo whose
 * id is built from it); we leave it without uuid and keep its pci.
 */
function theirNicAsOurs(ours: Record<string, unknown>, theirs: Record<string, unknown>, hv: Runtime["hvparams"]): Record<string, unknown> {
  if (ours.uuid !== undefined) return theirs;
  const t = { ...theirs };
  delete t.uuid;
  const h = t.hvinfo as Record<string, unknown> | undefined;
  if (typeof ours.pci === "number" && ours.hvinfo === undefined && h) {
    const sameSlot = h.bus === "pci.0" && h.addr === `0x${ours.pci.toString(16)}` && h.driver === driverForHvparams("nic", hv);
    if (sameSlot && new RegExp(`^hotnic-[0-9a-f]{8}-pci-${ours.pci}$`).test(String(h.id))) {
      delete t.hvinfo;
      t.pci = ours.pci;
    }
  }
  return t;
}

/** Differences between our reading of a file and Ganeti's, in words ([] when they agree). */
function disagreements(doc: RuntimeDocument, g: GanetiAnswer): string[] {
  const rt = doc.runtime;
  const out: string[] = [];
  if (rt.nics.length !== g.nics.length) out.push(`${rt.nics.length} NICs here, ${g.nics.length} in Ganeti`);
  rt.nics.forEach((n, i) => {
    const ours = fields(n, NIC_FIELDS);
    const theirs = fields(theirNicAsOurs(ours, g.nics[i]?.dict ?? {}, rt.hvparams), NIC_FIELDS);
    if (!plainEqual(ours, theirs)) out.push(`nics[${i}]: ours ${JSON.stringify(ours)}, Ganeti's ${JSON.stringify(theirs)}`);
  });
  if (rt.disks.length !== g.disks.length) out.push(`${rt.disks.length} disks here, ${g.disks.length} in Ganeti`);
  rt.disks.forEach((e, i) => {
    const t = g.disks[i];
    const ours = { ...fields(e.disk, DISK_FIELDS), link: e.linkName, uri: e.uri };
    const theirs = { ...fields(t?.dict ?? {}, DISK_FIELDS), link: t?.link, uri: t?.uri };
    if (!plainEqual(ours, theirs)) out.push(`disks[${i}]: ours ${JSON.stringify(ours)}, Ganeti's ${JSON.stringify(theirs)}`);
  });
  // Ganeti 3.0 keeps -chroot (3.1.1 drops it, as we show) and does not map disk_discard (3.1 does, as we show).
  if (!plainEqual(rt.kvmCmd, withoutChroot(g.kvm_cmd))) out.push(`kvm_cmd: ours ${JSON.stringify(rt.kvmCmd)}, Ganeti's ${JSON.stringify(g.kvm_cmd)}`);
  const hv = doc.notes.some((n) => n.rule === "disk-discard") ? { ...g.hvparams, disk_discard: rt.hvparams.disk_discard as PlainValue } : g.hvparams;
  if (!plainEqual(rt.hvparams, hv)) out.push(`hvparams: ours ${JSON.stringify(rt.hvparams)}, Ganeti's ${JSON.stringify(g.hvparams)}`);
  return out;
}

// ----------------------------------------------------- planned changes

const NEW_UUID = "5a1f0c2e-9b7d-4e3a-8c6f-1d2e3f4a5b6c";
const ALL_QMP = ["getfd", "add-fd", "remove-fd", "netdev_add", "netdev_del", "device_add", "device_del", "blockdev-add", "blockdev-del", "query-pci", "qom-list", "qom-get"];

/** The live bus a QEMU started from the file would have: its own devices in 0-4, then what the file records. */
function liveFrom(rt: Runtime): { pci: LivePciDevice[]; scsi: LiveScsiTarget[] } {
  const pci: LivePciDevice[] = [0, 1, 2, 3, 4].map((slot) => ({ slot, function: 0, qdevId: "", vendorId: 0x8086, deviceId: 0x1237, classDesc: null, classCode: 0, isBridge: false }));
  const scsi: LiveScsiTarget[] = [];
  for (const d of [...rt.nics, ...rt.disks.map((e) => e.disk)]) {
    const h = d.hvinfo;
    if (h?.bus === "pci.0" && typeof h.addr === "string" && typeof h.id === "string") {
      pci.push({ slot: parseInt(h.addr, 16), function: 0, qdevId: h.id, vendorId: 0x1af4, deviceId: 0x1000, classDesc: null, classCode: 0, isBridge: false });
    } else if (h?.bus === "scsi.0" && typeof h["scsi-id"] === "number" && typeof h.id === "string") {
      scsi.push({ scsiId: h["scsi-id"], qdevId: h.id, driver: h.driver });
    }
  }
  return { pci, scsi };
}

/**
 * What a planned write changed besides the one device it is about, in words
 * ([] when nothing else): every other device, kvm_cmd (a SCSI controller may
 * be appended) and hvparams must read back as they were.
 */
function collateral(before: Runtime, after: Runtime, uuid: string, removed: boolean): string[] {
  const out: string[] = [];
  // Ganeti 2.16+ ignores pci next to hvinfo, and generation B writes the slot as pci alone.
  const slotOnce = <D extends { pci?: number; hvinfo?: unknown }>(d: D): D => {
    if (d.hvinfo === undefined) return d;
    const { pci: _ignored, ...rest } = d;
    return rest as D;
  };
  const rest = (rt: Runtime, dropFirst: boolean) => {
    let dropped = !dropFirst;
    const keep = (u: string | undefined): boolean => {
      if (u !== uuid) return true;
      if (dropped) return !removed;
      dropped = true;
      return false;
    };
    return { nics: rt.nics.filter((n) => keep(n.uuid)).map(slotOnce), disks: rt.disks.filter((e) => keep(e.disk.uuid)).map((e) => ({ ...e, disk: slotOnce(e.disk) })) };
  };
  const [b, a] = [rest(before, removed), rest(after, !removed)];
  out.push(...plainDiff(b, a, "devices"));
  const cmd = after.kvmCmd;
  const controller = cmd.length === before.kvmCmd.length + 2 && cmd[cmd.length - 2] === "-device" && /(^|,)id=scsi(,|$)/.test(String(cmd[cmd.length - 1]));
  out.push(...plainDiff(before.kvmCmd, controller ? cmd.slice(0, -2) : cmd, "kvm_cmd"), ...plainDiff(before.hvparams, after.hvparams, "hvparams"));
  return out;
}

/** One change per file, in turn: add a NIC, a PCI disk, a SCSI disk, remove the first device with a uuid; read by 3.0 only, or by 2.15 too (a B write). */
function intentFor(rt: Runtime, i: number): { intent: Record<string, unknown>; readers: string[] } {
  const readers = i % 2 === 0 ? ["3.0.2"] : ["2.15.2", "3.0.2"];
  const disk = { uuid: NEW_UUID, path: "/var/run/ganeti/instance-disks/inst1:9", sizeMiB: 1024 };
  switch (i % 4) {
    case 0:
      return { intent: { action: "add-nic", uuid: NEW_UUID, mac: "aa:00:00:5a:1f:0c", link: "br0" }, readers };
    case 1:
      return { intent: { action: "add-disk", bus: "pci", ...disk }, readers };
    case 2:
      return { intent: { action: "add-disk", bus: "scsi", ...disk }, readers };
    default: {
      const nic = rt.nics.find((n) => n.uuid);
      const d = rt.disks.find((e) => e.disk.uuid);
      const ref = nic ? { kind: "nic", ref: nic.uuid } : { kind: "disk", ref: d?.disk.uuid ?? NEW_UUID };
      return { intent: { action: "remove", ...ref }, readers };
    }
  }
}

// ------------------------------------------------------------------ run

interface Figures {
  seed: number;
  filesTried: number;
  accepted: number;
  refused: number;
  refusedNotUtf8: number;
  refusedNotJson: number;
  refusedStructure: number;
  acceptedWriteRefused: number;
  roundTripBytes: number;
  crashes: number;
  hangs: number;
  byGeneration: Record<string, { tried: number; accepted: number }>;
  ganetiLoaded: number;
  ganetiAgreed: number;
  ganetiConversions: number;
  planned: number;
  plannedLoaded: number;
  planRefused: number;
  slowestMs: number;
  seconds: number;
}

describe(`fuzz: ${FILES} mutated runtime files (seed ${SEED})`, () => {
  const violations = { crash: [] as string[], hang: [] as string[], refusal: [] as string[], roundTrip: [] as string[], ganeti: [] as string[], plan: [] as string[] };
  const figures = {} as Figures;
  const note = (list: string[], what: string): void => {
    if (list.length < 20) list.push(what);
    else if (list.length === 20) list.push("… (more)");
  };

  beforeAll(() => {
    requirePeer(GANETI_30);
    const started = performance.now();
    const given = loadSeeds();
    const genOf = (s: Seed): Generation => readRuntime(STRICT_UTF8.decode(s.bytes)).generation;
    expect(new Set(given.map(genOf)), "the seeds cover generations A, B and C").toEqual(new Set(["A", "B", "C"]));
    // Most seeds are C (Ganeti 3.0 writes only C): A and B seeds are listed again, so each has about a quarter of the cases.
    const perGen = (g: Generation) => given.filter((s) => genOf(s) === g);
    const repeat = Math.max(1, Math.round(perGen("C").length / 2));
    const seeds = [...perGen("C"), ...Array.from({ length: repeat }, () => [...perGen("A"), ...perGen("B")]).flat()];
    const seedGen = seeds.map(genOf);

    const cases = fc.sample(FuzzCase, { numRuns: FILES, seed: SEED });
    const byGeneration: Record<Generation, { tried: number; accepted: number }> = { A: { tried: 0, accepted: 0 }, B: { tried: 0, accepted: 0 }, C: { tried: 0, accepted: 0 } };
    let [accepted, notUtf8, notJson, structure, writeRefused, roundTripBytes, slowest] = [0, 0, 0, 0, 0, 0, 0];
    const acceptedTexts: string[] = [];
    const seen = new Set<string>();

    cases.forEach((c, n) => {
      const { seed, bytes } = caseBytes(seeds, c);
      const gen = seedGen[seeds.indexOf(seed)] as Generation;
      byGeneration[gen].tried++;
      const label = `case ${n} (${seed.name}, ${JSON.stringify(c).slice(0, 300)})`;
      const t0 = performance.now();
      let r: ReturnType<typeof guarded<Examined>>;
      try {
        r = guarded(() => examine(bytes));
      } catch (e) {
        note(violations.crash, `${label}: ${e instanceof Error ? e.message : String(e)}\n${e instanceof Crash && e.cause instanceof Error ? e.cause.stack?.split("\n").slice(0, 4).join("\n") : ""}`);
        return;
      } finally {
        slowest = Math.max(slowest, performance.now() - t0);
      }
      if ("hang" in r) {
        note(violations.hang, `${label}: no result after ${HANG_MS} ms`);
        return;
      }
      const x = r.value;
      if (x.kind === "not-utf8") {
        notUtf8++;
        return;
      }
      if (x.kind === "refused") {
        const issues = x.error.issues;
        if (issues[0]?.startsWith("not valid JSON")) notJson++;
        else structure++;
        const unclear = issues.filter((i) => !ISSUE.test(i));
        if (issues.length === 0 || unclear.length) note(violations.refusal, `${label}: refusal does not say where or what: ${JSON.stringify(unclear.length ? unclear : issues)}`);
        return;
      }
      accepted++;
      byGeneration[gen].accepted++;
      if (!seen.has(x.text)) {
        seen.add(x.text);
        acceptedTexts.push(x.text);
      }
      if (x.writeRefused) {
        writeRefused++;
        if (x.writeRefused.reasons.length === 0 || x.writeRefused.reasons.some((w) => !w.reason)) note(violations.refusal, `${label}: write refused without a reason`);
        return;
      }
      // Written back in its own generation: same bytes as Ganeti's layout of it, same model when read again.
      // Not claimed where the reader changed the file: a 3-entry file with slots (read as B or C), or a C file with
      // devices without hvinfo (written with it, pci turned into it, as Ganeti 2.16+ writes them).
      const sameShape = x.threeEntries === (x.doc.generation === "A");
      const raw = parseRawRuntime(x.text);
      const upgraded = x.doc.generation === "C" && [...raw.nics, ...(raw.disks ?? []).map((e) => e[0] as PyDict)].some((d) => !d.has("hvinfo"));
      if (sameShape && !upgraded) {
        if (x.written !== x.canonical) note(violations.roundTrip, `${label}: unchanged write differs from the file in Ganeti's layout ${firstDiff(x.canonical, x.written ?? "")}`);
        else roundTripBytes++;
      }
      if (x.reread instanceof RuntimeReadError) note(violations.roundTrip, `${label}: our write does not read back: ${x.reread.message}\n  wrote: ${excerpt(x.written ?? "")}`);
      else if (x.reread && (!plainEqual(model(x.reread.runtime), model(x.doc.runtime)) || (sameShape && x.reread.generation !== x.doc.generation))) {
        note(violations.roundTrip, `${label}: reading our write gives another model\n  file:  ${excerpt(x.text)}\n  wrote: ${excerpt(x.written ?? "")}`);
      }
    });

    // A sample of the accepted files through Ganeti 3.0.2's loader, with our C conversion and a planned change of each.
    const step = Math.max(1, acceptedTexts.length / GANETI_SAMPLE);
    const sample = Array.from({ length: Math.min(GANETI_SAMPLE, acceptedTexts.length) }, (_, i) => acceptedTexts[Math.floor(i * step)] as string);
    const ops: Op[] = [];
    const checks: { what: string; doc: RuntimeDocument; expectUuid?: { uuid: string; count: number } }[] = [];
    const load = (what: string, text: string, doc: RuntimeDocument, expectUuid?: { uuid: string; count: number }): void => {
      ops.push({ op: "load_file", base64: Buffer.from(encode(text)).toString("base64") });
      checks.push({ what, doc, ...(expectUuid ? { expectUuid } : {}) });
    };
    let [conversions, planned, planRefused] = [0, 0, 0];
    sample.forEach((text, i) => {
      const doc = readRuntime(text);
      load(`accepted file ${excerpt(text)}`, text, doc);
      try {
        const c = writeRuntime(doc.runtime, "C");
        conversions++;
        load(`our generation C write of ${excerpt(text)}\n  wrote: ${excerpt(c)}`, c, readRuntime(c));
      } catch (e) {
        if (!(e instanceof RuntimeWriteError)) note(violations.crash, `writeRuntime(C) of ${excerpt(text)}: ${String(e)}`);
      }
      const { intent, readers } = intentFor(doc.runtime, i);
      const live = liveFrom(doc.runtime);
      const state: InstanceSnapshot = { name: "inst1", runtime: doc, livePci: live.pci, liveScsi: live.scsi, qmpCommands: ALL_QMP, qemuVersion: { major: 7, minor: 2, micro: 0 }, readers: { ganetiVersions: readers } };
      try {
        const plan = planHotplug(state, intent);
        if (!plan.ok) {
          planRefused++;
          if (plan.refusals.length === 0 || plan.refusals.some((f) => !f.message)) note(violations.plan, `plan ${JSON.stringify(intent)} on ${excerpt(text)}: refused without a reason`);
          return;
        }
        planned++;
        const removed = intent.action === "remove" ? String(intent.ref) : undefined;
        const after = readRuntime(plan.fileTextAfter);
        const also = collateral(doc.runtime, after.runtime, removed ?? NEW_UUID, removed !== undefined);
        if (also.length) note(violations.plan, `planned ${JSON.stringify(intent)} on ${excerpt(text)} also changed ${also.join("; ")}`);
        load(`planned ${JSON.stringify(intent)} for ${readers.join(", ")} on ${excerpt(text)}\n  wrote: ${excerpt(plan.fileTextAfter)}`, plan.fileTextAfter, after, { uuid: removed ?? NEW_UUID, count: doc.runtime.nics.concat(doc.runtime.disks.map((e) => e.disk)).filter((d) => d.uuid === (removed ?? NEW_UUID)).length + (removed ? -1 : 1) });
      } catch (e) {
        note(violations.crash, `planHotplug ${JSON.stringify(intent)} on ${excerpt(text)}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      }
    });
    const answers = ganetiPlain(ops);
    let [loaded, agreed, plannedLoaded] = [0, 0, 0];
    checks.forEach((c, i) => {
      const g = answers[i] as GanetiAnswer;
      if (!g.ok) {
        note(violations.ganeti, `Ganeti 3.0.2 refuses ${c.what}\n  its error: ${g.error}`);
        return;
      }
      loaded++;
      const diff = disagreements(c.doc, g);
      if (diff.length) note(violations.ganeti, `Ganeti 3.0.2 reads ${c.what}\n  otherwise: ${diff.join("\n  ")}`);
      else agreed++;
      if (c.expectUuid) {
        // A removal takes one device with that uuid, as Ganeti's own does (a file may list a uuid twice).
        const n = [...g.nics.map((x) => x.dict.uuid), ...g.disks.map((x) => x.dict.uuid)].filter((u) => u === c.expectUuid?.uuid).length;
        if (n !== c.expectUuid.count) note(violations.plan, `${c.what}: Ganeti sees ${n} devices with uuid ${c.expectUuid.uuid}, expected ${c.expectUuid.count}`);
        else plannedLoaded++;
      }
    });

    Object.assign(figures, {
      seed: SEED,
      filesTried: cases.length,
      accepted,
      refused: notUtf8 + notJson + structure,
      refusedNotUtf8: notUtf8,
      refusedNotJson: notJson,
      refusedStructure: structure,
      acceptedWriteRefused: writeRefused,
      roundTripBytes,
      crashes: violations.crash.length,
      hangs: violations.hang.length,
      byGeneration,
      ganetiLoaded: loaded,
      ganetiAgreed: agreed,
      ganetiConversions: conversions,
      planned,
      plannedLoaded,
      planRefused,
      slowestMs: Math.round(slowest * 10) / 10,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    } satisfies Figures);
    console.log(`runtime fuzz figures: ${JSON.stringify(figures)}`);
    if (process.env.FUZZ_DUMP) writeFileSync(process.env.FUZZ_DUMP, JSON.stringify(violations, null, 1));
  });

  it("tries every file, of all three generations, and accepts and refuses a fair share of them", () => {
    expect(figures.filesTried).toBe(FILES);
    for (const g of ["A", "B", "C"]) expect(figures.byGeneration[g]?.accepted, `accepted files of generation ${g}`).toBeGreaterThan(0);
    // Both outcomes are exercised, or the properties below would be empty.
    expect(figures.accepted).toBeGreaterThan(FILES / 10);
    expect(figures.refused).toBeGreaterThan(FILES / 10);
  });

  it("never crashes (only RuntimeReadError / RuntimeWriteError) and never hangs", () => {
    expect(violations.crash).toEqual([]);
    expect(violations.hang).toEqual([]);
  });

  it("refuses with an error that names where the problem is", () => {
    expect(violations.refusal).toEqual([]);
  });

  it("writes an accepted file back in Ganeti's layout byte for byte, and reads the write back to the same model", () => {
    expect(violations.roundTrip).toEqual([]);
    expect(figures.roundTripBytes).toBeGreaterThan(FILES / 10);
  });

  it("every sampled accepted file, and our C write of it, loads in Ganeti 3.0.2 with the same devices, kvm_cmd and hvparams", () => {
    expect(violations.ganeti).toEqual([]);
    expect(figures.ganetiLoaded).toBeGreaterThanOrEqual(Math.min(GANETI_SAMPLE, 100));
  });

  it("a change planned on each sampled file writes a file Ganeti 3.0.2 loads, with the change in it", () => {
    expect(violations.plan).toEqual([]);
    expect(figures.planned).toBeGreaterThan(0);
    expect(figures.plannedLoaded).toBe(figures.planned);
  });
});

// Each bug the fuzzing found, as a fixed case (they failed before the fix).
describe("what fuzzing runtime files found", () => {
  const C = readFileSync(path.join(FIXTURES, "gen-c.py3.runtime"), "utf8");
  const B = readFileSync(path.join(FIXTURES, "gen-b.py2.runtime"), "utf8");
  const refusal = (text: string): string => {
    try {
      readRuntime(text);
    } catch (e) {
      if (e instanceof RuntimeReadError) return e.message;
      throw e;
    }
    throw new Error("accepted");
  };
  const ganetiError = (text: string): string | undefined => ganetiPlain([{ op: "load_file", base64: Buffer.from(text).toString("base64") }])[0]?.error;

  beforeAll(() => requirePeer(GANETI_30));

  it("a NIC, Disk or child Disk key Ganeti does not know is refused: Ganeti's loader fails on it", () => {
    const files = [
      C.replace('"mac": "aa:00:00:bf:2f:16"', '"physical_id": 1, "mac": "aa:00:00:bf:2f:16"'),
      C.replace('"dev_type": "plain"', '"nicparams": {}, "dev_type": "plain"'),
      C.replace('"dev_type": "plain"', '"children": [{"dev_type": "plain", "no_such_key": 1}], "dev_type": "plain"'),
    ];
    expect(refusal(files[0] as string)).toMatch(/nics\[0\]: "physical_id" is not a NIC key Ganeti knows/);
    expect(refusal(files[1] as string)).toMatch(/disks\[0\]\.disk: "nicparams" is not a Disk key Ganeti knows/);
    expect(refusal(files[2] as string)).toMatch(/disks\[0\]\.disk\.children\[0\]: "no_such_key" is not a Disk key/);
    for (const f of files) expect(ganetiError(f)).toMatch(/TypeError: Object (NIC|Disk) doesn't support the parameter/);
  });

  it("a key Ganeti treats as a secret is refused anywhere: Ganeti fails on it or writes it back as null", () => {
    const bad = C.replace('"acpi": true', '"osparams_secret": "x", "acpi": true');
    expect(refusal(bad)).toMatch(/runtime\[2\]: the key "osparams_secret" is one Ganeti treats as a secret/);
    expect(ganetiError(bad)).toMatch(/ValueError/);
    expect(refusal(C.replace('"stripes": 1', '"osparams_private": {"a": 1}'))).toMatch(/osparams_private/);
  });

  it("a DRBD disk without its logical_id is refused: Ganeti's Disk.FromDict fails on it", () => {
    const bad = C.replace('"dev_type": "plain", "logical_id": ["xenvg", "5d1e3c1a-7d44-4d2b-9b1e-0c8f2a6b9e01.disk0"], ', '"dev_type": "drbd", ');
    expect(refusal(bad)).toMatch(/disks\[0\]\.disk\.logical_id: a DRBD disk needs its logical_id list/);
    expect(ganetiError(bad)).toMatch(/TypeError/);
  });

  it("-chroot without its directory at the end of kvm_cmd is refused (a SCSI controller appended after it would be taken as its directory)", () => {
    expect(refusal(C.replace('"c0ffee00-5eed-4b1d-9a7e-2f0d1c3b4a59"]', '"c0ffee00-5eed-4b1d-9a7e-2f0d1c3b4a59", "-chroot"]'))).toMatch(/kvm_cmd\[\d+\]: -chroot without its directory/);
  });

  it("two devices with one uuid are each written back from their own bytes", () => {
    const nic = (keys: string): string => `{${keys}, "uuid": "003fc157-66a8-4e6d-8b7e-ec4f69751396"}`;
    const hv = (slot: number): string => `"hvinfo": {"driver": "virtio-net-pci", "id": "nic-${slot}", "bus": "pci.0", "addr": "0x${slot.toString(16)}"}`;
    const text = `[["/usr/bin/kvm"], [${nic(`"mac": "aa:00:00:00:00:01", ${hv(16)}`)}, ${nic(`${hv(17)}, "mac": "aa:00:00:00:00:02"`)}], {"nic_type": "paravirtual"}, []]\n`;
    expect(writeRuntime(readRuntime(text).runtime, "C")).toBe(text);
  });

  it("generation B refuses a device with pci next to an empty hvinfo (2.16+ reads it as not placed, 2.10-2.15 at that slot)", () => {
    const text = B.replace('"pci": 5, ', '"pci": 5, "hvinfo": {}, ');
    expect(() => writeRuntime(readRuntime(text).runtime, "B")).toThrow(/pci 5 with an empty hvinfo/);
  });

  it("a plan on a file with NaN or an integer beyond 2^53 keeps them (the planner copied the runtime through JSON: null, or a crash)", () => {
    const text = C.replace('"acpi": true', '"acpi": true, "x_nan": NaN, "x_big": 123456789012345678901234567890');
    const doc = readRuntime(text);
    const live = liveFrom(doc.runtime);
    const plan = planHotplug({ name: "inst1", runtime: doc, livePci: live.pci, liveScsi: live.scsi, qmpCommands: ALL_QMP, qemuVersion: { major: 7, minor: 2, micro: 0 }, readers: { ganetiVersions: ["3.0.2"] } }, { action: "add-nic", uuid: NEW_UUID, mac: "aa:00:00:5a:1f:0c", link: "br0" });
    if (!plan.ok) throw new Error(plan.refusals.map((r) => r.message).join("; "));
    expect(plan.fileTextAfter).toContain('"x_nan": NaN, "x_big": 123456789012345678901234567890');
  });
});
