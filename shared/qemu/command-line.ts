// From a (read, upgraded) runtime file to the QEMU argv Ganeti would run.
// Ganeti 3.0's _ExecuteKVMRuntime appends, in this order, to the saved
// kvm_cmd: NIC -netdev/-device pairs (or "-net none"), -incoming, the two
// -qmp sockets (Ganeti's .qmp and kvmd's .kvmd), then the disk
// -device/-drive options. A migration target is started the same way, so
// this is also how we check that a runtime file can still receive a guest.
//
// Inputs are structural so any runtime model with these fields fits.

export interface HvInfoLike {
  driver?: string;
  id?: string;
  bus?: string;
  addr?: string;
  [key: string]: unknown;
}

export interface NicLike {
  mac?: string;
  hvinfo?: HvInfoLike;
}

export interface DiskEntryLike {
  disk: { hvinfo?: HvInfoLike; params?: Record<string, unknown> };
  linkName: string;
  uri: string | null;
}

export interface RuntimeLike {
  kvmCmd: readonly (string | number)[];
  nics: readonly NicLike[];
  hvparams: Record<string, unknown>;
  disks: readonly DiskEntryLike[];
}

/** How a NIC's backend is opened: Ganeti passes tap fds; the lab may name a tap. */
export interface NetdevBackend {
  type: string;
  /** Options after "type=...,id=...", e.g. "fd=3" or "ifname=tap0,script=no,downscript=no". */
  options: string;
}

export interface CommandLineOptions {
  qmpSocket: string;
  kvmdSocket: string;
  netdev: (seq: number, netdevId: string) => NetdevBackend;
  /** "unix:/path" or "tcp:host:port" for a migration target. */
  incoming?: string;
  /** QEMU >= 4.0 needs this on file drives (Ganeti adds it when --help lists it). */
  autoReadOnlyOff?: boolean;
  /** Drop "-daemonize" so the caller owns the process (the lab does). */
  foreground?: boolean;
}

/** Ganeti's -device string: driver first, then the other keys in stored order. */
export function hvinfoDeviceString(hvinfo: HvInfoLike): string {
  const { driver, ...rest } = hvinfo;
  if (!driver) throw new Error(`hvinfo ${JSON.stringify(hvinfo)} has no driver`);
  let s = driver;
  for (const [k, v] of Object.entries(rest)) s += `,${k}=${String(v)}`;
  return s;
}

/** The NIC model Ganeti uses for NICs without hvinfo (generation A files). */
export function nicModel(hvparams: Record<string, unknown>): string {
  const t = hvparams.nic_type;
  return t === undefined || t === "paravirtual" ? "virtio-net-pci" : String(t);
}

export function buildQemuArgv(runtime: RuntimeLike, opts: CommandLineOptions): string[] {
  const cmd = runtime.kvmCmd.map(String).filter((a) => !(opts.foreground && a === "-daemonize"));
  if (cmd.length === 0) throw new Error("The runtime file's kvm_cmd is empty: it must start with the QEMU binary.");

  if (runtime.nics.length === 0) {
    cmd.push("-net", "none");
  } else {
    runtime.nics.forEach((nic, seq) => {
      if (!nic.mac) throw new Error(`NIC ${seq} has no MAC address in the runtime file`);
      const hasId = nic.hvinfo && typeof nic.hvinfo.id === "string";
      const netdev = hasId ? String(nic.hvinfo!.id) : `netdev${seq}`;
      const device = hasId ? hvinfoDeviceString(nic.hvinfo!) : nicModel(runtime.hvparams);
      const backend = opts.netdev(seq, netdev);
      cmd.push("-netdev", `type=${backend.type},id=${netdev},${backend.options}`);
      cmd.push("-device", `${device},netdev=${netdev},mac=${nic.mac}`);
    });
  }

  if (opts.incoming) cmd.push("-incoming", opts.incoming);
  cmd.push("-qmp", `unix:${opts.qmpSocket},server,nowait`);
  cmd.push("-qmp", `unix:${opts.kvmdSocket},server,nowait`);

  for (const entry of runtime.disks) {
    const access = entry.disk.params?.access;
    const file = entry.uri && access === "userspace" ? entry.uri : entry.linkName;
    let drive = `file=${file},format=raw,if=none`;
    const hv = entry.disk.hvinfo;
    if (!hv || typeof hv.id !== "string") {
      throw new Error(`Disk ${entry.linkName} has no hvinfo id: it cannot be given a -device option`);
    }
    drive += `,id=${hv.id}`;
    cmd.push("-device", `${hvinfoDeviceString(hv)},drive=${hv.id}`);
    if (opts.autoReadOnlyOff ?? true) drive += ",auto-read-only=off";
    cmd.push("-drive", drive);
  }
  return cmd;
}

/**
 * Devices the saved kvm_cmd itself pins to a pci.0 slot, e.g. generation B's
 * `-balloon virtio,id=balloon,bus=pci.0,addr=0x3` (upgraded to -device) or a
 * spice virtio-serial. The runtime file records these slots too.
 */
export function pinnedPciDevices(kvmCmd: readonly (string | number)[]): { slot: number; id: string; driver: string }[] {
  const out: { slot: number; id: string; driver: string }[] = [];
  for (let i = 0; i + 1 < kvmCmd.length; i++) {
    const opt = kvmCmd[i];
    if (opt !== "-device" && opt !== "-balloon") continue;
    const [driver = "", ...pairs] = String(kvmCmd[i + 1]).split(",");
    const kv = new Map(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)] as const));
    const addr = kv.get("addr");
    if (addr === undefined || (kv.has("bus") && kv.get("bus") !== "pci.0")) continue;
    // QEMU reads addr as hex, with or without 0x, optionally with ".function".
    const slot = parseInt(addr.replace(/^0x/i, "").split(".")[0] ?? "", 16);
    if (Number.isInteger(slot) && slot >= 0 && slot < 32) {
      out.push({ slot, id: kv.get("id") ?? driver, driver: opt === "-balloon" ? "virtio-balloon-pci" : driver });
    }
  }
  return out;
}
