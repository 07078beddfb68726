/**
 * In-memory upgrade, following Ganeti's `_UpgradeSerializedRuntime`
 * (2.16/3.0) plus the 3.1 `_upgrade_serialized_runtime` additions, in
 * Ganeti's order (research/ganeti-kvm.md §3, §11.2):
 *   a. NIC without uuid (deviation: no random uuid, see below);
 *   b. pci → hvinfo with the old `hot<kind>-<uuid8>-pci-N` id, key order
 *      driver, id, addr, bus; devices without pci get `hvinfo: {}`;
 *   c. -localtime → -rtc base=localtime;
 *   d. -balloon X[,args] → -device virtio-balloon[,args];
 *   e. -vnc TLS args → -object tls-creds-…,id=vnctls0 + -vnc …,tls-creds=vnctls0;
 *   f. only inside the -vnc branch (as 3.1 has it): disk_discard not in
 *      {ignore, unmap} → ignore (3.1.0+); remove -chroot <dir> (3.1.1+;
 *      3.0 and 3.1.0 keep it).
 * Every change is recorded as a note. Pure: works on copies.
 */
import { driverForHvparams, type DeviceKind } from "./device-id";
import { RuntimeReadError } from "./errors";
import type { Disk, DiskEntry, HvParams, KvmCmd, Nic, RuntimeNote } from "./schema";

export interface UpgradeInput {
  kvmCmd: KvmCmd;
  nics: Nic[];
  hvparams: HvParams;
  /** null for a 3-entry (generation A) file. */
  disks: DiskEntry[] | null;
}

export interface UpgradeResult {
  kvmCmd: KvmCmd;
  nics: Nic[];
  hvparams: HvParams;
  disks: DiskEntry[];
  notes: RuntimeNote[];
}

/** Upgrade one device's `pci` to `hvinfo` (Ganeti's update_hvinfo). */
function updateHvinfo<T extends Nic | Disk>(dev: T, kind: DeviceKind, hvparams: HvParams, label: string, notes: RuntimeNote[]): T {
  if (dev.hvinfo !== undefined) return dev;
  if (dev.pci === undefined) return { ...dev, hvinfo: {} };
  if (dev.uuid === undefined) {
    // Ganeti would build the id from the random uuid it just invented; we
    // cannot, deterministically. Keep `pci` (every 2.10+ reader accepts it).
    notes.push({
      rule: "pci-to-hvinfo",
      detail: `${label}: kept pci ${dev.pci} (no uuid, so no device id can be derived; Ganeti would use a random one)`,
    });
    return dev;
  }
  const driver = driverForHvparams(kind, hvparams);
  if (driver === undefined) {
    throw new RuntimeReadError([
      `hvparams.${kind}_type: missing, but ${label}.pci needs it (Ganeti 2.16+ derives the hvinfo driver from it and fails with KeyError)`,
    ]);
  }
  const { pci, ...rest } = dev;
  const hvinfo = { driver, id: `hot${kind}-${dev.uuid.split("-")[0]}-pci-${pci}`, addr: `0x${pci.toString(16)}`, bus: "pci.0" };
  notes.push({ rule: "pci-to-hvinfo", detail: `${label}: pci ${pci} → hvinfo ${JSON.stringify(hvinfo)}` });
  return { ...rest, hvinfo } as T;
}

export function upgradeRuntime(input: UpgradeInput): UpgradeResult {
  const notes: RuntimeNote[] = [];
  const hvparams: HvParams = { ...input.hvparams };
  if (input.disks === null) {
    notes.push({ rule: "no-disk-list", detail: "3-entry file (generation A): disks live in kvm_cmd; the disk list is empty" });
  }
  const nics = input.nics.map((nic, i) => {
    if (nic.uuid === undefined) {
      notes.push({
        rule: "nic-uuid",
        detail: `nics[${i}] has no uuid: Ganeti invents a random one on every load; left without uuid, so this NIC cannot be hot-removed`,
      });
    }
    return updateHvinfo(nic, "nic", hvparams, `nics[${i}]`, notes);
  });
  const disks = (input.disks ?? []).map((e, i) => ({ ...e, disk: updateHvinfo(e.disk, "disk", hvparams, `disks[${i}]`, notes) }));

  const kvmCmd = [...input.kvmCmd];
  const argAfter = (idx: number, opt: string): string => {
    const v = kvmCmd[idx + 1];
    if (typeof v !== "string") {
      throw new RuntimeReadError([`kvm_cmd[${idx + 1}]: expected the string argument of ${opt} (Ganeti 2.16.1+ fails to load this file)`]);
    }
    return v;
  };

  // The chroot rule below takes the element after -chroot with it; with none, a
  // later write that appends to kvm_cmd (a SCSI controller) would lose an option.
  if (kvmCmd[kvmCmd.length - 1] === "-chroot") {
    throw new RuntimeReadError([`kvm_cmd[${kvmCmd.length - 1}]: -chroot without its directory: QEMU cannot start from this command line, and Ganeti 3.1.1+ drops whatever follows -chroot with it`]);
  }

  let idx = kvmCmd.indexOf("-localtime");
  if (idx >= 0) {
    kvmCmd.splice(idx, 1, "-rtc", "base=localtime");
    notes.push({ rule: "localtime", detail: `kvm_cmd[${idx}]: -localtime → -rtc base=localtime` });
  }

  idx = kvmCmd.indexOf("-balloon");
  if (idx >= 0) {
    const args = argAfter(idx, "-balloon").split(",").slice(1);
    const balloon = args.length ? `virtio-balloon,${args.join(",")}` : "virtio-balloon";
    const old = kvmCmd[idx + 1];
    kvmCmd.splice(idx, 2, "-device", balloon);
    notes.push({ rule: "balloon", detail: `kvm_cmd[${idx}]: -balloon ${old} → -device ${balloon}` });
  }

  idx = kvmCmd.indexOf("-vnc");
  if (idx >= 0) {
    const orig = argAfter(idx, "-vnc");
    const vncArgs: string[] = [];
    let tlsObj: string | null = null;
    const tlsObjArgs = ["id=vnctls0", "endpoint=server"];
    for (const arg of orig.split(",")) {
      if (arg === "tls") {
        tlsObj = "tls-creds-anon";
        vncArgs.push("tls-creds=vnctls0");
      } else if (arg.startsWith("x509verify=") || arg.startsWith("x509=")) {
        tlsObj = "tls-creds-x509";
        tlsObjArgs.push(`dir=${arg.slice(arg.indexOf("=") + 1)}`);
        tlsObjArgs.push(arg.startsWith("x509verify=") ? "verify-peer=yes" : "verify-peer=no");
      } else {
        vncArgs.push(arg);
      }
    }
    if (tlsObj !== null) {
      const repl = ["-object", `${tlsObj},${tlsObjArgs.join(",")}`, "-vnc", vncArgs.join(",")];
      kvmCmd.splice(idx, 2, ...repl);
      notes.push({ rule: "vnc-tls", detail: `kvm_cmd[${idx}]: -vnc ${orig} → ${repl.join(" ")}` });
    }
    // Ganeti 3.1 nests these two under the -vnc branch; reproduce that.
    const discard = hvparams.disk_discard;
    if (discard !== undefined && discard !== "ignore" && discard !== "unmap") {
      hvparams.disk_discard = "ignore";
      notes.push({ rule: "disk-discard", detail: `hvparams.disk_discard: ${JSON.stringify(discard)} → "ignore" (Ganeti 3.1 dropped "default")` });
    }
    const c = kvmCmd.indexOf("-chroot");
    if (c >= 0) {
      const removed = kvmCmd.splice(c, 2);
      notes.push({ rule: "chroot", detail: `kvm_cmd[${c}]: removed ${removed.join(" ")} (Ganeti 3.1.1+ drops it on load and builds -run-with chroot at start; 3.0 and 3.1.0 keep it)` });
    }
  }

  return { kvmCmd, nics, hvparams, disks, notes };
}
