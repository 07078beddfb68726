// The runtime CLI as a child process (the built bundle, as users run it), on
// fixture files: JSON shape, exit codes (0 ok, 1 refused/broken file, 2
// usage), atomic output.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readRuntime } from "../../shared/runtime";
import { FIXTURES, FX, upstreamRuntimePath } from "./runtime-fixtures";
import { CLI_BIN, REPO, buildCli, runCli } from "./cli-bundle";

const B = path.join(FIXTURES, FX.b);
const C = path.join(FIXTURES, FX.cPy3);
const tmp = mkdtempSync(path.join(os.tmpdir(), "hd-cli-"));

beforeAll(() => {
  buildCli();
});

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  return runCli(args, { cwd: REPO });
}

/** A generation C file with one SCSI disk (cannot be written as B). */
function scsiFile(): string {
  const text = readFileSync(C, "utf8").replace(
    '"hvinfo": {"driver": "virtio-blk-pci", "id": "disk-9f5c5bd4-6f60-480b", "bus": "pci.0", "addr": "0xf"}',
    '"hvinfo": {"driver": "scsi-hd", "id": "disk-9f5c5bd4-6f60-480b", "bus": "scsi.0", "channel": 0, "scsi-id": 3, "lun": 0}',
  );
  const f = path.join(tmp, "scsi.runtime");
  writeFileSync(f, text);
  return f;
}

describe("hotplug-desk runtime", () => {
  it("inspect prints generation, devices, slots and notes as JSON", () => {
    const r = cli("runtime", "inspect", B);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.generation).toBe("B");
    expect(j.devices).toHaveLength(4);
    expect(j.devices[0]).toEqual({
      kind: "nic",
      index: 0,
      uuid: "003fc157-66a8-4e6d-8b7e-ec4f69751396",
      id: "hotnic-003fc157-pci-5",
      driver: "virtio-net-pci",
      bus: "pci.0",
      slot: "0x05",
      guestAddress: "0000:00:05.0",
      mac: "aa:00:00:bf:2f:16",
      mode: "bridged",
      link: "br0",
      vlan: "",
    });
    expect(j.devices[3]).toMatchObject({ kind: "disk", id: "hotdisk-9f5c5bd4-pci-7", slot: "0x07", path: "/var/run/ganeti/instance-disks/inst1.example.com:1", sizeMiB: 1024 });
    expect(j.slots).toHaveLength(32);
    expect(j.slots[5]).toEqual({ slot: "0x05", state: "taken-file", reserved: false, device: "hotnic-003fc157-pci-5" });
    expect(j.slots[2]).toMatchObject({ state: "reserved", reserved: true });
    expect(j.notes.some((n: { rule: string }) => n.rule === "pci-to-hvinfo")).toBe(true);
    expect(j.warnings).toEqual([]);
  });

  it("inspect shows SCSI targets and warns about pretty-printed files", () => {
    const r = cli("runtime", "inspect", scsiFile());
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).devices[3]).toMatchObject({ bus: "scsi.0", scsiId: 3, guestAddress: "scsi.0 channel 0, target 3, lun 0" });
    const u = JSON.parse(cli("runtime", "inspect", upstreamRuntimePath()).stdout);
    expect(u.warnings.join("\n")).toMatch(/one-line layout/);
  });

  it("convert C→B refuses a SCSI disk with exit 1 and writes nothing", () => {
    const out = path.join(tmp, "never.runtime");
    const r = cli("runtime", "convert", scsiFile(), "--to", "B", "-o", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/disk-9f5c5bd4-6f60-480b/);
    expect(r.stderr).toMatch(/scsi\.0/);
    expect(r.stderr).toMatch(/Nothing was written/);
    expect(readdirSync(tmp).filter((f) => f.includes("never"))).toEqual([]);
  });

  it("convert round trip B→C→B gives the original bytes for the file's own readers; -o writes atomically with mode 0600", () => {
    const toC = cli("runtime", "convert", B, "--to", "C");
    expect(toC.code).toBe(0);
    expect(readRuntime(toC.stdout).generation).toBe("C");
    const cFile = path.join(tmp, "c.runtime");
    writeFileSync(cFile, toC.stdout);
    const out = path.join(tmp, "b.runtime");
    // The file came from Ganeti 2.15: for 2.15 readers, every key stays.
    const back = cli("runtime", "convert", cFile, "--to", "b", "--ganeti-version", "2.15.2", "-o", out);
    expect(back.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(readFileSync(B, "utf8"));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readdirSync(tmp).filter((f) => f.endsWith(".new"))).toEqual([]);
    // Same generation: byte-identical.
    expect(cli("runtime", "convert", C, "--to", "C").stdout).toBe(readFileSync(C, "utf8"));
  });

  it("convert --to B without a version writes for every 2.10-2.15 reader: disk keys 2.10 rejects are dropped", () => {
    const original = readRuntime(readFileSync(B, "utf8"));
    const diskKeys = Object.keys(original.runtime.disks[0]!.disk);
    expect(diskKeys).toEqual(expect.arrayContaining(["nodes", "serial_no", "ctime", "mtime"])); // written by 2.15
    const every = cli("runtime", "convert", B, "--to", "B");
    expect(every.code).toBe(0);
    const disk = readRuntime(every.stdout).runtime.disks[0]!.disk;
    for (const k of ["nodes", "serial_no", "ctime", "mtime", "forthcoming"]) expect(disk, k).not.toHaveProperty(k);
    expect(disk).toMatchObject({ uuid: original.runtime.disks[0]!.disk.uuid, size: original.runtime.disks[0]!.disk.size });
    // For 2.12 readers serial_no and the timestamps stay, nodes does not.
    const d212 = readRuntime(cli("runtime", "convert", B, "--to", "B", "--ganeti-version", "2.12.6", "--ganeti-version", "3.0.2").stdout).runtime.disks[0]!.disk;
    expect(d212).toHaveProperty("serial_no");
    expect(d212).not.toHaveProperty("nodes");
    const bad = cli("runtime", "convert", B, "--to", "B", "--ganeti-version", "soon");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ganeti-version soon: not a Ganeti version/);
  });

  it("check: ok line for good files", () => {
    const r = cli("runtime", "check", C);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("ok: generation C, 2 NICs, 2 disks\n");
    expect(cli("runtime", "check", upstreamRuntimePath()).stdout).toBe("ok: generation C, 1 NIC, 2 disks\n");
  });

  it("check: a malformed file exits non-zero and names the problem", () => {
    const bad = path.join(tmp, "bad.runtime");
    writeFileSync(bad, readFileSync(C, "utf8").replace('"addr": "0xd"', '"addr": "13"'));
    const r = cli("runtime", "check", bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nics\[0\]\.hvinfo\.addr/);
    const truncated = path.join(tmp, "trunc.runtime");
    writeFileSync(truncated, readFileSync(C, "utf8").slice(0, 100));
    const t = cli("runtime", "check", truncated);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/not valid JSON/);
    const dup = path.join(tmp, "dup.runtime");
    writeFileSync(dup, readFileSync(C, "utf8").replace('"addr": "0xe"', '"addr": "0xd"'));
    const d = cli("runtime", "check", dup);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/0xd is also used by/);
    const missing = cli("runtime", "check", path.join(tmp, "nope"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read/);
  });

  it("a file with bytes that are not UTF-8 is refused by every command, never rewritten with replacement characters", () => {
    const text = readFileSync(C);
    const at = text.indexOf("inst1");
    const bytes = Buffer.from(text);
    bytes[at] = 0xfe;
    const f = path.join(tmp, "latin.runtime");
    writeFileSync(f, bytes);
    for (const cmd of [["inspect"], ["check"], ["convert", "--to", "C"]]) {
      const r = cli("runtime", cmd[0]!, f, ...cmd.slice(1));
      expect(r.code, cmd[0]).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(new RegExp(`byte ${at} is not UTF-8`));
    }
  });

  it("usage errors exit 2 and name the problem; --help exits 0", () => {
    const cases: [string[], RegExp][] = [
      [["runtime", "inspect", "--frob", C], /unknown option --frob/],
      [["runtime", "convert", C], /missing --to/],
      [["runtime", "convert", C, "--to", "D"], /--to D: expected A, B or C/],
      [["runtime", "check"], /missing FILE/],
      [["runtime", "check", C, C], /expected one FILE/],
      [["runtime", "explode"], /unknown command "explode"/],
      [["nodes"], /unknown area "nodes"/],
      [[], /missing area/],
    ];
    for (const [args, msg] of cases) {
      const r = cli(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toMatch(/Usage: hotplug-desk/);
    }
    for (const args of [["--help"], ["runtime", "--help"], ["runtime", "inspect", "--help"], ["runtime", "convert", "-h"], ["runtime", "check", "--help"]]) {
      const r = cli(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: hotplug-desk/);
    }
  });

  it("the bin launcher forwards arguments and the exit code", () => {
    const ok = spawnSync(CLI_BIN, ["runtime", "check", C], { cwd: REPO, encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^ok: generation C/);
    expect(spawnSync(CLI_BIN, ["runtime", "bogus"], { cwd: REPO, encoding: "utf8" }).status).toBe(2);
  });
});
