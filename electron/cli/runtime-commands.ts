// `hotplug-desk runtime inspect|convert|check`: runtime files on a local
// disk (copied from a node, or on the node itself), through the same shared
// reader and writer the app uses.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  GENERATION_LABEL,
  GenerationSchema,
  RuntimeReadError,
  RuntimeWriteError,
  decodeRuntimeBytes,
  hotRemoveBlocker,
  isPciHvinfo,
  isScsiHvinfo,
  hvinfoSlot,
  readRuntime,
  writeRuntime,
  type DeviceRef,
  type Generation,
  type RuntimeDocument,
} from "../../shared/runtime";
import { GANETI_RELEASES, OLDEST_WRITTEN_FOR, parseGanetiVersion } from "../../shared/ganeti/versions";
import { displayPciAddr, guestPciAddress, pciSlotMap, QEMU_DEFAULT_PCI_RESERVATIONS, type FilePciSlot } from "../../shared/slots";
import { UsageError, writeFileAtomic, type CliIo } from "./io";

export const RUNTIME_USAGE = `Usage: hotplug-desk runtime <command> [options] FILE

Commands:
  inspect FILE                    print the file's generation, devices, PCI slots and notes as JSON
  convert FILE --to A|B|C [-o OUT] write the file for readers of another generation
  check FILE                      exit 0 if the file reads and rewrites cleanly, else list the problems

Run "hotplug-desk runtime <command> --help" for a command's options.
`;

const INSPECT_USAGE = `Usage: hotplug-desk runtime inspect FILE

Print JSON: { file, generation, generationLabel, devices, slots, notes, warnings }.
  devices  every NIC and disk: kind, uuid, id, driver, bus, slot|scsiId, guestAddress, mac/link or path
  slots    the 32 pci.0 slots as the runtime file alone sees them (no live bus)
  notes    what Ganeti's in-memory upgrade changes when it loads the file
Options:
  -h, --help   show this help
`;

const CONVERT_USAGE = `Usage: hotplug-desk runtime convert FILE --to A|B|C [--ganeti-version V]... [-o OUT]

Write FILE in the layout Ganeti of generation A (<= 2.9), B (2.10-2.15) or C (2.16+)
reads. NIC and disk entries keep only the keys every reader accepts (older Ganeti
rejects a key it does not know): those of the Ganeti versions given, or without
--ganeti-version, of every release of the target generation (B: 2.10.0 to 2.15.2).
Other content keeps its bytes. Refused (exit 1, reasons on stderr) when the target
cannot express the file, e.g. a SCSI disk in generation B.
Options:
  --to A|B|C              target generation (required)
  --ganeti-version V      a Ganeti version that will read the file, e.g. 2.14.0 (repeat for each)
  -o, --output OUT        write to OUT atomically (temp file + rename, mode 0600) instead of stdout
  -h, --help              show this help
`;

const CHECK_USAGE = `Usage: hotplug-desk runtime check FILE

Exit 0 and print "ok: generation C, 2 NICs, 1 disk" when the file reads and can be
written back for its own generation; otherwise exit 1 and list the problems.
Options:
  -h, --help   show this help
`;

type Options = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>;

function parse(args: string[], options: Options, usage: string): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | string[] | undefined>, positionals: r.positionals };
  } catch (e) {
    const err = e as Error & { code?: string };
    // node's message names the flag but then suggests "--" for positionals; keep the first part.
    const flag = /'([^']+)'/.exec(err.message)?.[1];
    if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) throw new UsageError(`unknown option ${flag}`, usage);
    throw new UsageError((err.message.split(". To specify")[0] ?? "bad arguments").replace(/\.$/, ""), usage);
  }
}

function oneFile(positionals: string[], usage: string): string {
  if (positionals.length === 0) throw new UsageError("missing FILE", usage);
  if (positionals.length > 1) throw new UsageError(`expected one FILE, got ${positionals.length}: ${positionals.join(" ")}`, usage);
  return positionals[0] as string;
}

class CommandFailed extends Error {}

function load(file: string, io: CliIo): RuntimeDocument {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    io.err(`cannot read ${file}: ${(e as Error).message}\n`);
    throw new CommandFailed();
  }
  const decoded = decodeRuntimeBytes(bytes);
  if (!decoded.ok) {
    io.err(`${file}: byte ${decoded.offset} is not UTF-8; Ganeti writes runtime files as ASCII JSON, so this file was changed by something else and would not be kept exactly. Inspect it.\n`);
    throw new CommandFailed();
  }
  const text = decoded.text;
  try {
    return readRuntime(text);
  } catch (e) {
    if (e instanceof RuntimeReadError) {
      io.err(`${file}: not a usable Ganeti KVM runtime file:\n${e.issues.map((i) => `  - ${i}\n`).join("")}`);
      throw new CommandFailed();
    }
    throw e;
  }
}

function fileSlotsOf(doc: RuntimeDocument): FilePciSlot[] {
  const out: FilePciSlot[] = [];
  doc.runtime.nics.forEach((n, i) => {
    if (isPciHvinfo(n.hvinfo)) out.push({ slot: hvinfoSlot(n.hvinfo), deviceId: n.hvinfo.id });
    else if (typeof n.pci === "number") out.push({ slot: n.pci, deviceId: `nics[${i}]` });
  });
  doc.runtime.disks.forEach((e, i) => {
    if (isPciHvinfo(e.disk.hvinfo)) out.push({ slot: hvinfoSlot(e.disk.hvinfo), deviceId: e.disk.hvinfo.id });
    else if (typeof e.disk.pci === "number") out.push({ slot: e.disk.pci, deviceId: `disks[${i}]` });
  });
  return out;
}

/** Reserved count as the file's own generation sees it (2.10.2–2.15: 3; 2.16+: the hvparam or 12), from the version table. */
function reservedFor(doc: RuntimeDocument): number {
  if (doc.generation !== "C") {
    const last = GANETI_RELEASES.filter((r) => r.generation === "B").at(-1)?.pciReservation;
    return last?.kind === "fixed" ? last.count : QEMU_DEFAULT_PCI_RESERVATIONS;
  }
  const r = doc.runtime.hvparams.kvm_pci_reservations;
  return typeof r === "number" ? r : QEMU_DEFAULT_PCI_RESERVATIONS;
}

function describeDevices(doc: RuntimeDocument): { devices: Record<string, unknown>[]; warnings: string[] } {
  const warnings: string[] = [];
  const refs: DeviceRef[] = [
    ...doc.runtime.nics.map((nic, index): DeviceRef => ({ kind: "nic", index, nic })),
    ...doc.runtime.disks.map((entry, index): DeviceRef => ({ kind: "disk", index, entry })),
  ];
  const devices = refs.map((ref) => {
    const dev = ref.kind === "nic" ? ref.nic : ref.entry.disk;
    const h = dev.hvinfo;
    const d: Record<string, unknown> = { kind: ref.kind, index: ref.index, uuid: dev.uuid ?? null, id: h?.id ?? null, driver: h?.driver ?? null };
    if (isPciHvinfo(h)) {
      const slot = hvinfoSlot(h);
      Object.assign(d, { bus: "pci.0", slot: displayPciAddr(slot), guestAddress: guestPciAddress(slot) });
    } else if (isScsiHvinfo(h)) {
      Object.assign(d, { bus: "scsi.0", scsiId: h["scsi-id"], guestAddress: `scsi.0 channel ${h.channel}, target ${h["scsi-id"]}, lun ${h.lun}` });
    } else if (typeof dev.pci === "number") {
      Object.assign(d, { bus: "pci.0", slot: displayPciAddr(dev.pci), guestAddress: guestPciAddress(dev.pci) });
    } else {
      Object.assign(d, { bus: null });
    }
    if (ref.kind === "nic") {
      const p = ref.nic.nicparams ?? {};
      Object.assign(d, { mac: ref.nic.mac ?? null, mode: p.mode ?? null, link: p.link ?? null, vlan: p.vlan ?? null });
    } else {
      const e = ref.entry;
      Object.assign(d, { path: e.linkName, uri: e.uri, sizeMiB: e.disk.size ?? null, devType: e.disk.dev_type ?? null });
    }
    const blocker = hotRemoveBlocker(ref);
    if (blocker) warnings.push(`${blocker}.`);
    return d;
  });
  return { devices, warnings };
}

function inspect(args: string[], io: CliIo): number {
  const { values, positionals } = parse(args, {}, INSPECT_USAGE);
  if (values.help) {
    io.out(INSPECT_USAGE);
    return 0;
  }
  const file = oneFile(positionals, INSPECT_USAGE);
  const doc = load(file, io);
  const { devices, warnings } = describeDevices(doc);
  const reserved = reservedFor(doc);
  const slots = pciSlotMap({ reservedCount: reserved, fileSlots: fileSlotsOf(doc), liveSlots: null }).map((e) => {
    const s: Record<string, unknown> = { slot: displayPciAddr(e.slot), state: e.state, reserved: e.reserved };
    if (e.fileDevice) s.device = e.fileDevice.deviceId;
    if (e.fileDevices.length > 1) warnings.push(`Slot ${displayPciAddr(e.slot)} is recorded for ${e.fileDevices.map((f) => f.deviceId).join(" and ")}.`);
    return s;
  });
  try {
    const again = writeRuntime(doc.runtime, doc.generation);
    if (again !== doc.sourceText) warnings.push("The file is not in Ganeti's one-line layout (e.g. pretty-printed): any rewrite changes its bytes, though not its content.");
  } catch (e) {
    if (!(e instanceof RuntimeWriteError)) throw e;
    for (const r of e.reasons) warnings.push(`Cannot be written back as generation ${doc.generation}: ${r.device ? `${r.device}: ` : ""}${r.reason}.`);
  }
  const report = {
    file,
    generation: doc.generation,
    generationLabel: GENERATION_LABEL[doc.generation],
    devices,
    slots,
    reservedSlots: reserved,
    notes: doc.notes,
    warnings,
  };
  io.out(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

function convert(args: string[], io: CliIo): number {
  const { values, positionals } = parse(args, { to: { type: "string" }, output: { type: "string", short: "o" }, "ganeti-version": { type: "string", multiple: true } }, CONVERT_USAGE);
  if (values.help) {
    io.out(CONVERT_USAGE);
    return 0;
  }
  const file = oneFile(positionals, CONVERT_USAGE);
  if (values.to === undefined) throw new UsageError("missing --to A|B|C", CONVERT_USAGE);
  const to = GenerationSchema.safeParse(String(values.to).toUpperCase());
  if (!to.success) throw new UsageError(`--to ${String(values.to)}: expected A, B or C`, CONVERT_USAGE);
  const target: Generation = to.data;
  const versions = (values["ganeti-version"] as string[] | undefined) ?? [];
  for (const v of versions) {
    if (!parseGanetiVersion(v)) throw new UsageError(`--ganeti-version ${v}: not a Ganeti version (expected e.g. 2.15.2 or 3.0.2)`, CONVERT_USAGE);
  }
  const doc = load(file, io);
  let text: string;
  try {
    // No version: every reader of the target generation, the oldest included.
    text = writeRuntime(doc.runtime, { generation: target, readers: versions.length ? versions : [OLDEST_WRITTEN_FOR[target]] });
  } catch (e) {
    if (!(e instanceof RuntimeWriteError)) throw e;
    io.err(
      `${file}: cannot convert generation ${doc.generation} to ${target} (${GENERATION_LABEL[target]}):\n${e.reasons
        .map((r) => `  - ${r.device ? `${r.device}: ` : ""}${r.reason}\n`)
        .join("")}Nothing was written.\n`,
    );
    return 1;
  }
  const out = values.output;
  if (typeof out === "string") {
    try {
      writeFileAtomic(out, text);
    } catch (e) {
      io.err(`cannot write ${out}: ${(e as Error).message}\n`);
      return 1;
    }
    io.err(`wrote ${out}: generation ${target} (${GENERATION_LABEL[target]})${doc.generation === target ? ", same generation" : `, from ${doc.generation}`}\n`);
  } else {
    io.out(text);
  }
  return 0;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function check(args: string[], io: CliIo): number {
  const { values, positionals } = parse(args, {}, CHECK_USAGE);
  if (values.help) {
    io.out(CHECK_USAGE);
    return 0;
  }
  const file = oneFile(positionals, CHECK_USAGE);
  const doc = load(file, io);
  try {
    writeRuntime(doc.runtime, doc.generation);
  } catch (e) {
    if (!(e instanceof RuntimeWriteError)) throw e;
    io.err(`${file}: reads as generation ${doc.generation} but cannot be written back:\n${e.reasons.map((r) => `  - ${r.device ? `${r.device}: ` : ""}${r.reason}\n`).join("")}`);
    return 1;
  }
  io.out(`ok: generation ${doc.generation}, ${plural(doc.runtime.nics.length, "NIC", "NICs")}, ${plural(doc.runtime.disks.length, "disk", "disks")}\n`);
  return 0;
}

const COMMANDS: Record<string, (args: string[], io: CliIo) => number> = { inspect, convert, check };

export function runtimeCommand(args: string[], io: CliIo): number {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    if (sub === undefined) throw new UsageError("missing command", RUNTIME_USAGE);
    io.out(RUNTIME_USAGE);
    return 0;
  }
  const fn = COMMANDS[sub];
  if (!fn) throw new UsageError(sub.startsWith("-") ? `unknown option ${sub}` : `unknown command "${sub}"`, RUNTIME_USAGE);
  try {
    return fn(rest, io);
  } catch (e) {
    if (e instanceof CommandFailed) return 1;
    throw e;
  }
}
