// Ganeti's own Python code as the judge of our runtime files (not a test file
// itself): Debian's ganeti-3.0 (installed) and trixie's ganeti-3.1 (unpacked
// by scripts/ganeti-3.1.sh), each run with bookworm's python3 through
// ganeti_load.py. A missing peer is a failure that names what to install.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { readRuntime } from "../../shared/runtime";

export const PYTHON = "/usr/bin/python3";
const HELPER = path.resolve(__dirname, "ganeti_load.py");
const REPO = path.resolve(__dirname, "../..");

export interface Peer {
  name: string;
  /** Directory put on PYTHONPATH (holds ganeti/). */
  root: string;
  /** What gives a machine this peer. */
  install: string;
  /**
   * Whether it loads a 3-entry (generation A) file. Ganeti 3.1.0's
   * KVMRuntime.from_serialized upgrades the list but then reads entry 3 of
   * the file as loaded, so an A file fails with IndexError.
   */
  readsGenerationA: boolean;
}

export const GANETI_30: Peer = {
  name: "Ganeti 3.0",
  root: "/usr/share/ganeti/3.0",
  install: "install the Debian package ganeti-3.0 (npm test does, through scripts/system-packages.sh)",
  readsGenerationA: true,
};

export const GANETI_31: Peer = {
  name: "Ganeti 3.1",
  root: path.join(REPO, ".cache/ganeti-3.1/root/usr/share/ganeti/3.1"),
  install: "run scripts/ganeti-3.1.sh, which downloads and unpacks Debian trixie's ganeti-3.1 (npm test does, through scripts/system-packages.sh)",
  readsGenerationA: false,
};

export const GANETI_216: Peer = {
  name: "Ganeti 2.16",
  root: "/usr/share/ganeti/2.16",
  install: "Debian's ganeti-2.16 ships only a version shim, not the hypervisor code",
  readsGenerationA: true,
};

/** Throws, saying what to install, unless python3 and the peer's hv_kvm are there. */
export function requirePeer(peer: Peer): void {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: install python3`);
  if (!existsSync(path.join(peer.root, "ganeti/hypervisor/hv_kvm/__init__.py"))) {
    throw new Error(`${peer.name}'s code is missing under ${peer.root}: ${peer.install}`);
  }
}

export type Op =
  | { op: "load"; text: string }
  /** A file's bytes (base64), read by Ganeti's utils.ReadFile as a node reads the runtime file. */
  | { op: "load_file"; base64: string }
  | { op: "save"; kvm_cmd: unknown[]; nics: unknown[]; hvparams: unknown; disks: unknown[] }
  | { op: "version" }
  | { op: "device_ids"; uuids: string[] }
  | { op: "probe216" };

export interface LoadResult {
  ok: boolean;
  error?: string;
  trace?: string;
  kvm_cmd: unknown[];
  hvparams: Record<string, unknown>;
  nics: { uuid: string; hvinfo: Record<string, unknown>; dict: Record<string, unknown> }[];
  disks: { uuid: string; hvinfo: Record<string, unknown>; link: string; uri: string | null; dict: Record<string, unknown> }[];
  resaved: string;
  text: string;
  version: string;
  nic: string[];
  disk: string[];
  importable: boolean;
  detail: string;
}

/**
 * Runs the ops through one peer, in one python3 process; the answer as
 * Python's json.dumps printed it (NaN and Infinity included, which
 * JSON.parse refuses: parse it with shared/pyjson where files may hold them).
 */
export function ganetiText(peer: Peer, ops: Op[]): string {
  return execFileSync(PYTHON, [HELPER], {
    input: JSON.stringify({ ops }),
    encoding: "utf8",
    env: { ...process.env, PYTHONPATH: peer.root },
    maxBuffer: 1 << 28,
  });
}

/** Runs the ops through one peer, in one python3 process. */
export function ganeti(peer: Peer, ops: Op[]): LoadResult[] {
  return JSON.parse(ganetiText(peer, ops)) as LoadResult[];
}

/** Ganeti's kvm_cmd with the first "-chroot DIR" taken out when "-vnc" is there (the 3.1.1+ rule our reader shows). */
export function withoutChroot(cmd: unknown[]): unknown[] {
  if (!cmd.includes("-vnc")) return cmd;
  const i = cmd.indexOf("-chroot");
  return i < 0 ? cmd : [...cmd.slice(0, i), ...cmd.slice(i + 2)];
}

export function ok(r: LoadResult | undefined): LoadResult {
  expect(r, "no result").toBeDefined();
  expect(r?.ok, r?.trace ?? r?.error).toBe(true);
  return r as LoadResult;
}

/** Our view of a file's devices, in the shape the helper prints. */
export function ourDevices(text: string): { nics: unknown[]; disks: unknown[] } {
  const rt = readRuntime(text).runtime;
  return {
    nics: rt.nics.map((n) => ({ uuid: n.uuid, hvinfo: n.hvinfo })),
    disks: rt.disks.map((e) => ({ uuid: e.disk.uuid, hvinfo: e.disk.hvinfo, link: e.linkName, uri: e.uri })),
  };
}

export function theirDevices(r: LoadResult): { nics: unknown[]; disks: unknown[] } {
  return {
    nics: r.nics.map((n) => ({ uuid: n.uuid, hvinfo: n.hvinfo })),
    disks: r.disks.map((d) => ({ uuid: d.uuid, hvinfo: d.hvinfo, link: d.link, uri: d.uri })),
  };
}
