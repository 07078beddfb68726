// The Ganeti version table and parser (shared/ganeti/versions.ts), and the
// writer held to it: a file written for a reader carries no NIC or Disk key
// that reader's objects.py rejects.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  GANETI_RELEASES,
  OLDEST_HELPER_PYTHON,
  OLDEST_WRITTEN_FOR,
  compareGanetiVersions,
  formatGanetiVersion,
  ganetiRelease,
  keysReadBy,
  oldestGanetiVersion,
  parseGanetiVersion,
  requireGanetiVersion,
  type GanetiVersion,
} from "../../shared/ganeti/versions";
import { RuntimeWriteError, emptyRuntime, newDisk, newNic, readRuntime, writeRuntime, writeTargetFor, type Runtime } from "../../shared/runtime";
import { parsePyJson, toPlain } from "../../shared/pyjson";

/** Every release tag of ganeti/ganeti from 2.10.0 to 3.1.1. */
const TAGS = [
  ...["2.10.0", "2.10.1", "2.10.2", "2.10.3", "2.10.4", "2.10.5", "2.10.6", "2.10.7", "2.10.8"],
  ...["2.11.0", "2.11.1", "2.11.2", "2.11.3", "2.11.4", "2.11.5", "2.11.6", "2.11.7", "2.11.8"],
  ...["2.12.0", "2.12.1", "2.12.2", "2.12.3", "2.12.4", "2.12.5", "2.12.6", "2.13.0", "2.13.1", "2.13.2", "2.13.3"],
  ...["2.14.0", "2.14.1", "2.14.2", "2.15.0", "2.15.1", "2.15.2", "2.16.0", "2.16.1", "2.16.2", "3.0.0", "3.0.1", "3.0.2", "3.1.0", "3.1.1"],
];
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe("parseGanetiVersion: the one parser", () => {
  it("reads the forms gnt-cluster version, Debian and tags use", () => {
    expect(parseGanetiVersion("2.16.2")).toEqual({ major: 2, minor: 16, patch: 2, pre: null });
    expect(parseGanetiVersion("3.0")).toEqual({ major: 3, minor: 0, patch: 0, pre: null });
    expect(parseGanetiVersion("v3.1.1")).toEqual({ major: 3, minor: 1, patch: 1, pre: null });
    expect(parseGanetiVersion("2.15.2-1+deb9u1")).toEqual({ major: 2, minor: 15, patch: 2, pre: null });
    expect(parseGanetiVersion("2.16.0beta1")).toEqual({ major: 2, minor: 16, patch: 0, pre: { tag: "beta", n: 1 } });
    expect(parseGanetiVersion("2.16.0~rc2-1")).toEqual({ major: 2, minor: 16, patch: 0, pre: { tag: "rc", n: 2 } });
    expect(parseGanetiVersion(" 2.10.0 ")).toEqual({ major: 2, minor: 10, patch: 0, pre: null });
  });

  it("refuses what is not a version, naming it", () => {
    for (const bad of ["v3", "latest", "banana", "2", "2.15.2banana", "", "2.x.1"]) expect(parseGanetiVersion(bad), bad).toBeNull();
    expect(() => requireGanetiVersion("latest")).toThrow(/"latest" is not a Ganeti version \(expected e.g. "2.15.2"/);
  });

  it("orders pre-releases before their release, and releases numerically", () => {
    const order = ["2.9.7", "2.10.0", "2.10.10", "2.16.0alpha1", "2.16.0beta1", "2.16.0beta2", "2.16.0rc1", "2.16.0", "2.16.2", "3.0.0"];
    const vs = order.map(requireGanetiVersion);
    for (let i = 1; i < vs.length; i++) expect(compareGanetiVersions(vs[i - 1]!, vs[i]!), `${order[i - 1]} < ${order[i]}`).toBeLessThan(0);
    expect(compareGanetiVersions(requireGanetiVersion("2.15.2-1"), requireGanetiVersion("2.15.2"))).toBe(0);
    expect(oldestGanetiVersion(["3.0.2", "2.16.0~beta1-1", "2.16.0"])?.text).toBe("2.16.0~beta1-1");
    expect(formatGanetiVersion(requireGanetiVersion("2.16.0~beta2-1"))).toBe("2.16.0beta2");
  });

  it("round-trips every formatted version (property)", () => {
    const ver = fc.record({
      major: fc.integer({ min: 0, max: 99 }),
      minor: fc.integer({ min: 0, max: 99 }),
      patch: fc.integer({ min: 0, max: 99 }),
      pre: fc.option(fc.record({ tag: fc.constantFrom("alpha" as const, "beta" as const, "rc" as const), n: fc.integer({ min: 0, max: 9 }) }), { nil: null }),
    });
    fc.assert(
      fc.property(ver, (v: GanetiVersion) => {
        expect(parseGanetiVersion(formatGanetiVersion(v))).toEqual(v);
      }),
    );
  });
});

describe("the version table", () => {
  it("is ordered, every row starts where it says, and each version finds its row", () => {
    const froms = GANETI_RELEASES.map((r) => requireGanetiVersion(r.from));
    for (let i = 1; i < froms.length; i++) expect(compareGanetiVersions(froms[i - 1]!, froms[i]!)).toBeLessThan(0);
    for (const r of GANETI_RELEASES) expect(ganetiRelease(r.from)).toBe(r);
    expect(ganetiRelease("1.2.0")).toBe(GANETI_RELEASES[0]);
  });

  it("NIC keys are the same from 2.10.0 to 2.15.2 (lib/objects.py NIC.__slots__)", () => {
    const nic = ["ip", "mac", "name", "netinfo", "network", "nicparams", "pci", "uuid"];
    for (const t of TAGS.filter((t) => t < "2.16")) expect(sorted(ganetiRelease(t).nicKeys), t).toEqual(nic);
    expect(sorted(ganetiRelease("2.16.0beta1").nicKeys)).toEqual(nic);
    for (const t of ["2.16.0beta2", "2.16.2", "3.0.2", "3.1.1"]) expect(sorted(ganetiRelease(t).nicKeys), t).toEqual(sorted([...nic, "hvinfo"]));
  });

  it("Disk keys grow inside generation B: 2.10-2.11, then +ctime/mtime/serial_no in 2.12-2.13, then +forthcoming/nodes in 2.14-2.15", () => {
    const d210 = ["children", "dev_type", "dynamic_params", "iv_name", "logical_id", "mode", "name", "params", "pci", "size", "spindles", "uuid"];
    const d212 = sorted([...d210, "ctime", "mtime", "serial_no"]);
    const d214 = sorted([...d212, "forthcoming", "nodes"]);
    for (const t of TAGS) {
      const keys = sorted(ganetiRelease(t).diskKeys ?? []);
      if (t < "2.12") expect(keys, t).toEqual(d210);
      else if (t < "2.14") expect(keys, t).toEqual(d212);
      else if (t < "2.16") expect(keys, t).toEqual(d214);
      else expect(keys, t).toEqual(sorted([...d214, "hvinfo"]));
    }
    expect(ganetiRelease("2.9.7").diskKeys).toBeNull(); // generation A has no disk list
  });

  it("records generation, reserved slots, id style, SCSI and hotplug method per release", () => {
    const facts = (v: string) => {
      const r = ganetiRelease(v);
      const res = r.pciReservation;
      return [r.generation, res.kind === "fixed" ? res.count : res.kind === "hvparam" ? `hv${res.default}` : "-", r.deviceIds, r.scsi, r.hotplug];
    };
    expect(facts("2.6.2")).toEqual(["A", "-", "none", false, "none"]);
    expect(facts("2.9.7")).toEqual(["A", "-", "none", false, "none"]);
    expect(facts("2.10.0")).toEqual(["B", 4, "v1", false, "hmp"]);
    expect(facts("2.10.1")).toEqual(["B", 4, "v1", false, "hmp"]);
    expect(facts("2.10.2")).toEqual(["B", 3, "v1", false, "hmp"]);
    expect(facts("2.12.6")).toEqual(["B", 3, "v1", false, "hmp"]);
    expect(facts("2.13.0")).toEqual(["B", 3, "v1", false, "qmp"]);
    expect(facts("2.15.2")).toEqual(["B", 3, "v1", false, "qmp"]);
    expect(facts("2.16.0~beta1-1")).toEqual(["B", 3, "v1", false, "qmp"]);
    expect(facts("2.16.0beta2")).toEqual(["C", "hv12", "v2", true, "qmp-hmp-drive"]);
    expect(facts("3.0.2")).toEqual(["C", "hv12", "v2", true, "qmp-hmp-drive"]);
    expect(facts("3.1.1")).toEqual(["C", "hv12", "v2", true, "qmp-blockdev"]);
  });

  it("the oldest python3 the helper meets is 3.5 (Ganeti 2.10-2.15 nodes); 3.x nodes have 3.6", () => {
    expect(OLDEST_HELPER_PYTHON).toBe("3.5");
    for (const t of TAGS.filter((t) => t < "2.16")) expect(ganetiRelease(t).python3, t).toBe("3.5");
    expect(ganetiRelease("3.0.2").python3).toBe("3.6");
  });

  it("from 2.4 on a newer release reads every key an older one does", () => {
    const rows = GANETI_RELEASES.filter((r) => compareGanetiVersions(requireGanetiVersion(r.from), requireGanetiVersion("2.4.0")) >= 0);
    for (let i = 1; i < rows.length; i++) {
      for (const k of rows[i - 1]!.nicKeys) expect(rows[i]!.nicKeys, `${rows[i]!.label} NIC ${k}`).toContain(k);
      for (const k of rows[i - 1]!.diskKeys ?? []) expect(rows[i]!.diskKeys, `${rows[i]!.label} Disk ${k}`).toContain(k);
    }
  });

  it("a floor below every reader targets the oldest release of the floor's generation", () => {
    expect(writeTargetFor(["3.0.2", "2.14.0"])).toEqual({ generation: "B", readers: ["3.0.2", "2.14.0"] });
    expect(writeTargetFor(["3.0.2"], "B")).toEqual({ generation: "B", readers: ["3.0.2", OLDEST_WRITTEN_FOR.B] });
    expect(writeTargetFor(["3.0.2"])).toEqual({ generation: "C", readers: ["3.0.2"] });
  });

  it("3.1 reads generations B and C only (its loader fails on a 3-entry file): no target suits it beside a 2.9 reader", () => {
    expect(ganetiRelease("3.1.0").oldestReads).toBe("B");
    expect(ganetiRelease("3.0.2").oldestReads).toBe("A");
    expect(writeTargetFor(["3.1.0", "2.15.2"])).toEqual({ generation: "B", readers: ["3.1.0", "2.15.2"] });
    expect(() => writeTargetFor(["3.1.0", "2.9.2"])).toThrow(/Ganeti 3\.1\.0 cannot read/);
    expect(() => writeTargetFor(["3.1.0"], "A")).toThrow(/the floor A/);
  });
});

// ---- the writer against the table

const KVM = ["/usr/bin/kvm", "-name", "inst1"];
const HV = { disk_type: "paravirtual", nic_type: "paravirtual" };
const DISK_UUID = "932df160-7a22-4067-a566-7e0ca8386133";
const NIC_UUID = "9e7c85f6-b6e5-4243-b27d-680b78c6d203";

/** A Ganeti 3.0 disk as 3.0 writes it: forthcoming and nodes, timestamps, a DRBD child of the same shape. */
function ganeti30Runtime(): Runtime {
  const rt = emptyRuntime(KVM, HV);
  rt.nics.push(newNic({ uuid: NIC_UUID, mac: "aa:00:00:12:34:56", link: "br0", slot: 12, idStyle: "v1" }));
  const e = newDisk({ uuid: DISK_UUID, size: 1024, linkName: "/var/run/ganeti/instance-disks/inst1:0", slot: 13, idStyle: "v1", devType: "drbd" });
  const child = { forthcoming: false, dev_type: "plain", logical_id: ["xenvg", "d0"], nodes: ["n1"], iv_name: "", size: 1024, mode: "rw", params: {}, serial_no: 1, uuid: "c1", ctime: 1.5, mtime: 1.5 };
  e.disk = { forthcoming: false, ...e.disk, children: [child], nodes: ["n1", "n2"], serial_no: 3, ctime: 1600000000.25, mtime: 1600000001.5 };
  rt.disks.push(e);
  return rt;
}

/** The NIC and Disk dicts (children included) of a written file, as plain objects. */
function dictsOf(text: string): { nics: Record<string, unknown>[]; disks: Record<string, unknown>[] } {
  const top = toPlain(parsePyJson(text)) as unknown[];
  const disks: Record<string, unknown>[] = [];
  const walk = (d: Record<string, unknown>): void => {
    disks.push(d);
    for (const c of (d.children as Record<string, unknown>[] | undefined) ?? []) walk(c);
  };
  for (const entry of (top[3] as unknown[][] | undefined) ?? []) walk(entry[0] as Record<string, unknown>);
  return { nics: top[1] as Record<string, unknown>[], disks };
}

function expectReadableBy(text: string, readers: string[]): void {
  const keys = keysReadBy(readers.map(requireGanetiVersion));
  const { nics, disks } = dictsOf(text);
  for (const n of nics) for (const k of Object.keys(n)) expect(keys.nic.has(k), `NIC key ${k} for ${readers.join(",")}`).toBe(true);
  for (const d of disks) for (const k of Object.keys(d)) expect(keys.disk?.has(k), `Disk key ${k} for ${readers.join(",")}`).toBe(true);
}

describe("a generation B write carries only what its oldest reader accepts", () => {
  it("a Ganeti 3.0 disk written for 2.10 loses forthcoming, nodes and the timestamps, its children too", () => {
    const text = writeRuntime(ganeti30Runtime(), { generation: "B", readers: ["2.10.0"] });
    expectReadableBy(text, ["2.10.0"]);
    const { disks } = dictsOf(text);
    expect(disks[0]).not.toHaveProperty("forthcoming");
    expect(disks[0]).not.toHaveProperty("nodes");
    expect(disks[0]).not.toHaveProperty("serial_no");
    expect(disks[1]).toEqual({ dev_type: "plain", logical_id: ["xenvg", "d0"], iv_name: "", size: 1024, mode: "rw", params: {}, uuid: "c1" });
    expect(disks[0]).toMatchObject({ pci: 13, uuid: DISK_UUID, size: 1024 });
    expect(readRuntime(text).generation).toBe("B");
  });

  it("for 2.12-2.13 it keeps serial_no and the timestamps; for 2.14+ forthcoming and nodes too", () => {
    const t212 = writeRuntime(ganeti30Runtime(), { generation: "B", readers: ["3.0.2", "2.12.4"] });
    expectReadableBy(t212, ["2.12.4"]);
    expect(dictsOf(t212).disks[0]).toMatchObject({ serial_no: 3, ctime: 1600000000.25, mtime: 1600000001.5 });
    expect(dictsOf(t212).disks[0]).not.toHaveProperty("forthcoming");
    const t214 = writeRuntime(ganeti30Runtime(), { generation: "B", readers: ["2.14.0"] });
    expect(dictsOf(t214).disks[0]).toMatchObject({ forthcoming: false, nodes: ["n1", "n2"], serial_no: 3 });
  });

  it("B with no readers named targets every 2.10-2.15 reader when the source is not a B file", () => {
    const c = writeRuntime(ganeti30Runtime(), "C");
    expect(dictsOf(c).disks[0]).toMatchObject({ forthcoming: false, nodes: ["n1", "n2"] });
    const b = writeRuntime(readRuntime(c).runtime, "B");
    expectReadableBy(b, ["2.10.0"]);
  });

  it("a B file keeps its own keys when written back for its own generation (its readers read them): byte for byte", () => {
    const b214 = writeRuntime(ganeti30Runtime(), { generation: "B", readers: ["2.14.0"] });
    expect(writeRuntime(readRuntime(b214).runtime, "B")).toBe(b214);
    // Named readers win: the same file for a 2.10 reader drops what 2.10 rejects.
    expectReadableBy(writeRuntime(readRuntime(b214).runtime, { generation: "B", readers: ["2.10.8"] }), ["2.10.8"]);
  });

  it("refuses a reader that cannot read the target generation at all, and a reader that is not a version", () => {
    const e = (() => {
      try {
        writeRuntime(ganeti30Runtime(), { generation: "B", readers: ["2.9.7", "soon"] });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(RuntimeWriteError);
    const reasons = (e as RuntimeWriteError).reasons.map((r) => r.reason);
    expect(reasons).toContain("Ganeti 2.9.7 reads generation A files only, so it cannot read this generation B file");
    expect(reasons.some((r) => /"soon" is not a Ganeti version/.test(r))).toBe(true);
  });

  it("property: whatever keys a device carries, a write for any readers has none they reject (or is refused)", () => {
    // Keys some release knows (and two none does), each with a value valid wherever the schemas type it.
    const VALUES: Record<string, unknown> = {
      name: "n", ip: "192.0.2.1", network: "net1", forthcoming: true, nodes: ["n3"], spindles: 1, serial_no: 2, ctime: 1.5, mtime: 2.5,
      dynamic_params: {}, iv_name: "disk/1", bridge: "br0", physical_id: ["a"], future_key: 1, x: "v",
    };
    const extras = fc.subarray(Object.keys(VALUES)).map((ks) => Object.fromEntries(ks.map((k) => [k, VALUES[k]])));
    const readerTags = fc.subarray(TAGS, { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(extras, extras, extras, readerTags, fc.constantFrom("B" as const, "C" as const), (nicExtra, diskExtra, childExtra, readers, gen) => {
        const rt = ganeti30Runtime();
        const nic = rt.nics[0]!;
        const disk = rt.disks[0]!.disk;
        Object.assign(nic, nicExtra);
        Object.assign(disk, diskExtra);
        disk.children = [{ ...(disk.children?.[0] ?? {}), ...childExtra }];
        let text: string;
        try {
          text = writeRuntime(rt, { generation: gen, readers });
        } catch (err) {
          // Only a clear refusal: readers of an older generation than the target.
          expect(err).toBeInstanceOf(RuntimeWriteError);
          expect(readers.some((r) => ganetiRelease(r).generation === "B") && gen === "C").toBe(true);
          return;
        }
        expectReadableBy(text, readers);
        expect(readRuntime(text).generation).toBe(gen);
      }),
      { numRuns: 400 },
    );
  });
});
