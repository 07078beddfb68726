// Lab instances of every runtime generation, built the way the matching
// Ganeti version would have saved them, then started the way Ganeti 3.0
// starts them: write the runtime file, read it back (upgrading in memory),
// and run QEMU from what was read.
import { randomBytes, randomUUID } from "node:crypto";
import { readRuntime, writeRuntime, newNic, newDisk, type Generation, type Nic, type Runtime } from "../../shared/runtime/index.js";
import { instancePaths, type InstancePaths } from "../../shared/on-node/layout.js";
import { QEMU, type LabInstance, type LabNode } from "./node.js";

export interface LabDiskSpec {
  bus: "pci" | "scsi";
  sizeMiB?: number;
}

export interface LabInstanceSpec {
  name: string;
  generation: Generation;
  nics: number;
  disks: LabDiskSpec[];
  memoryMiB?: number;
  /** Start with -S (Ganeti saves it when an instance is started paused): no guest CPU use. */
  paused?: boolean;
}

export interface StartedLabInstance extends LabInstance {
  generation: Generation;
  runtimeText: string;
  runtime: Runtime;
  /** Slots the runtime file records, by device id. */
  recordedSlots: { id: string; kind: "nic" | "disk"; slot?: number; scsiId?: number }[];
  summary: string;
}

export const DEFAULT_INSTANCES: LabInstanceSpec[] = [
  { name: "alpha.lab", generation: "C", nics: 1, disks: [{ bus: "pci" }] },
  { name: "bravo.lab", generation: "B", nics: 1, disks: [{ bus: "pci" }] },
  { name: "charlie.lab", generation: "A", nics: 1, disks: [{ bus: "pci" }] },
  { name: "delta.lab", generation: "C", nics: 1, disks: [{ bus: "scsi" }] },
];

export function randomMac(): string {
  // Ganeti's default mac_prefix is aa:00:00.
  return ["aa", "00", "00", ...[...randomBytes(3)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/** kvm_cmd as the matching Ganeti version's _GenerateKVMRuntime would save it. */
function kvmCmd(spec: LabInstanceSpec, paths: InstancePaths, guest: { kernel: string; initrd: string }, extra: (string | number)[]): (string | number)[] {
  const balloon: Record<Generation, (string | number)[]> = {
    // <= 2.9 and 2.10-2.15 used -balloon, which QEMU 7.2 no longer has: the
    // in-memory upgrade rewrites it, exactly as Ganeti 3.0 does on migration.
    A: ["-balloon", "virtio"],
    B: ["-balloon", "virtio,id=balloon,bus=pci.0,addr=0x3"],
    C: ["-device", "virtio-balloon"],
  };
  return [
    QEMU,
    "-name",
    spec.name,
    "-m",
    spec.memoryMiB ?? 256,
    "-smp",
    "1",
    "-pidfile",
    paths.pid,
    ...balloon[spec.generation],
    "-daemonize",
    "-machine",
    "pc,accel=tcg",
    "-monitor",
    `unix:${paths.monitor},server,nowait`,
    "-serial",
    `unix:${paths.serial},server,nowait`,
    "-display",
    "none",
    "-kernel",
    guest.kernel,
    "-initrd",
    guest.initrd,
    "-append",
    "console=ttyS0 panic=-1",
    ...extra,
    ...(spec.paused ? ["-S"] : []),
    "-uuid",
    randomUUID(),
  ];
}

function hvparams(spec: LabInstanceSpec, guest: { kernel: string; initrd: string }): Record<string, unknown> {
  const common: Record<string, unknown> = {
    acpi: true,
    boot_order: "disk",
    disk_cache: "default",
    disk_type: "paravirtual",
    kernel_args: "console=ttyS0 panic=-1",
    kernel_path: guest.kernel,
    initrd_path: guest.initrd,
    nic_type: "paravirtual",
    security_model: "none",
    serial_console: true,
    use_chroot: false,
  };
  if (spec.generation === "C") {
    common.kvm_pci_reservations = 12;
    common.scsi_controller_type = "lsi";
    if (spec.disks.some((d) => d.bus === "scsi")) common.disk_type = "scsi-hd";
  }
  return common;
}

export async function buildInstanceRuntime(node: LabNode, spec: LabInstanceSpec): Promise<{ text: string; runtime: Runtime }> {
  const paths = instancePaths(node.root, spec.name);
  const links: string[] = [];
  for (const [i, d] of spec.disks.entries()) links.push(await node.createDisk(spec.name, i, d.sizeMiB ?? 64));
  const hv = hvparams(spec, node.guest);
  const link = node.network.bridge ?? "br-lab";

  if (spec.generation === "A") {
    // <= 2.9: disks live in kvm_cmd, NICs carry no slot; QEMU places both.
    const drives = links.flatMap((l) => ["-drive", `file=${l},format=raw,if=virtio`]);
    const nics: Nic[] = Array.from({ length: spec.nics }, () => ({
      mac: randomMac(),
      nicparams: { link, mode: "bridged" },
      uuid: randomUUID(),
    }));
    const runtime: Runtime = { kvmCmd: kvmCmd(spec, paths, node.guest, drives), nics, hvparams: hv, disks: [] };
    return { text: writeRuntime(runtime, "A"), runtime };
  }

  // B: 2.10.2-2.15 reserve slots 0-2, the balloon takes 3, then disks, then NICs.
  // C: 2.16+ reserve 0x00-0x0b; disks from 0x0c, then NICs; QEMU places the rest.
  let slot = spec.generation === "B" ? 4 : 12;
  let scsiId = 0;
  const idStyle = spec.generation === "B" ? "v1" : "v2";
  const disks = spec.disks.map((d, i) =>
    d.bus === "scsi"
      ? newDisk({ uuid: randomUUID(), size: d.sizeMiB ?? 64, linkName: links[i]!, scsiId: scsiId++, ivName: `disk/${i}` })
      : newDisk({ uuid: randomUUID(), size: d.sizeMiB ?? 64, linkName: links[i]!, slot: slot++, idStyle, ivName: `disk/${i}` }),
  );
  const nics = Array.from({ length: spec.nics }, () => newNic({ uuid: randomUUID(), mac: randomMac(), link, slot: slot++, idStyle }));
  const extra = spec.disks.some((d) => d.bus === "scsi") ? ["-device", `${String(hv.scsi_controller_type ?? "lsi")},id=scsi`] : [];
  const runtime: Runtime = { kvmCmd: kvmCmd(spec, paths, node.guest, extra), nics, hvparams: hv, disks };
  return { text: writeRuntime(runtime, spec.generation), runtime };
}

export async function startLabInstance(node: LabNode, spec: LabInstanceSpec): Promise<StartedLabInstance> {
  const { text } = await buildInstanceRuntime(node, spec);
  // Start from what the file says, read back and upgraded, like Ganeti does.
  const doc = readRuntime(text);
  if (doc.generation !== spec.generation) {
    throw new Error(`Lab wrote ${spec.name} as generation ${spec.generation} but it reads back as ${doc.generation}`);
  }
  const inst = await node.startInstance({ name: spec.name, runtimeText: text, runtime: doc.runtime });
  const recordedSlots: StartedLabInstance["recordedSlots"] = [];
  const record = (kind: "nic" | "disk", hv: Record<string, unknown> | undefined) => {
    if (!hv || typeof hv.id !== "string") return;
    if (typeof hv.addr === "string") recordedSlots.push({ id: hv.id, kind, slot: parseInt(hv.addr, 16) });
    else if (typeof hv["scsi-id"] === "number") recordedSlots.push({ id: hv.id, kind, scsiId: hv["scsi-id"] });
  };
  doc.runtime.nics.forEach((n) => record("nic", n.hvinfo));
  doc.runtime.disks.forEach((d) => record("disk", d.disk.hvinfo));
  const summary =
    recordedSlots.length === 0
      ? `${spec.nics} NIC(s), ${spec.disks.length} disk(s), no slots recorded (QEMU places them)`
      : recordedSlots.map((r) => (r.slot !== undefined ? `${r.id}@0x${r.slot.toString(16)}` : `${r.id}@scsi${r.scsiId}`)).join(" ");
  return { ...inst, generation: spec.generation, runtimeText: text, runtime: doc.runtime, recordedSlots, summary };
}

export async function startDefaultInstances(
  node: LabNode,
  opts: { log?: (line: string) => void; specs?: LabInstanceSpec[] } = {},
): Promise<StartedLabInstance[]> {
  const out: StartedLabInstance[] = [];
  for (const spec of opts.specs ?? DEFAULT_INSTANCES) {
    opts.log?.(`starting ${spec.name} (generation ${spec.generation})`);
    out.push(await startLabInstance(node, spec));
  }
  return out;
}
