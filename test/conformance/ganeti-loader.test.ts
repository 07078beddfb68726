// Ganeti's own runtime loaders judge our files: Ganeti 3.0.2 (Debian's
// ganeti-3.0) and Ganeti 3.1 (trixie's ganeti-3.1, unpacked, never
// installed). Every file we write loads in both with the devices we say it
// holds, files each of them writes read back through ours, and our
// in-memory upgrade matches theirs rule by rule on generated files.
import { existsSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  RuntimeWriteError,
  deviceIdV2,
  readRuntime,
  writeRuntime,
  type Generation,
} from "../../shared/runtime";
import { dumpGanetiJson, fromPlain } from "../../shared/pyjson";
import { FX, newDevicesRuntime as created, readFixture, runtimeFixtures } from "../unit/runtime-fixtures";
import { GANETI_216, GANETI_30, GANETI_31, PYTHON, ganeti, ok, ourDevices, requirePeer, theirDevices, withoutChroot, type Op } from "./ganeti-peers";

/** Our writes of a file in every generation that can express it. */
function ourWrites(text: string): { generation: Generation; text: string }[] {
  const rt = readRuntime(text).runtime;
  const out: { generation: Generation; text: string }[] = [];
  for (const generation of ["A", "B", "C"] as const) {
    try {
      out.push({ generation, text: writeRuntime(rt, generation) });
    } catch (e) {
      if (!(e instanceof RuntimeWriteError)) throw e;
    }
  }
  return out;
}

for (const peer of [GANETI_30, GANETI_31]) {
  describe(`conformance: ${peer.name}'s own runtime loader`, () => {
    beforeAll(() => {
      // A missing peer is a failure that says what to install, not a skip.
      requirePeer(peer);
    });

    it("is the Ganeti it says it is", () => {
      const [r] = ganeti(peer, [{ op: "version" }]);
      expect(ok(r).version).toMatch(peer === GANETI_30 ? /^3\.0\.2$/ : /^3\.1\./);
    });

    it("every fixture, written by us in each generation that can hold it and it reads, loads with the devices we say it holds", () => {
      const fx = runtimeFixtures().filter((f) => peer.readsGenerationA || readRuntime(f.text).generation !== "A");
      const writes = fx.flatMap((f) => ourWrites(f.text).map((w) => ({ f, ...w }))).filter((w) => peer.readsGenerationA || w.generation !== "A");
      // C always; also B for the B file (and A for the A file, where it reads A).
      const expected = [`${FX.b}:B`, ...fx.map((f) => `${f.name}:C`), ...(peer.readsGenerationA ? [`${FX.a}:A`] : [])];
      expect(writes.map((w) => `${w.f.name}:${w.generation}`)).toEqual(expect.arrayContaining(expected));
      const results = ganeti(peer, [...writes.map((w) => ({ op: "load" as const, text: w.text })), ...fx.map((f) => ({ op: "load" as const, text: f.text }))]);
      writes.forEach((w, i) => {
        const label = `${w.f.name} written as ${w.generation}`;
        const mine = ok(results[i]);
        const orig = ok(results[writes.length + fx.indexOf(w.f)]);
        expect(theirDevices(mine), label).toEqual(ourDevices(w.text));
        // Ganeti makes of our file what it makes of the original (upgrades included).
        expect(mine.nics.map((n) => n.dict), label).toEqual(orig.nics.map((n) => n.dict));
        expect(mine.disks.map((d) => d.dict), label).toEqual(orig.disks.map((d) => d.dict));
        expect(mine.kvm_cmd, label).toEqual(orig.kvm_cmd);
        expect(mine.hvparams, label).toEqual(orig.hvparams);
        expect(mine.kvm_cmd, label).toEqual(readRuntime(w.f.text).runtime.kvmCmd);
      });
    });

    it("newly created devices (PCI NICs, a PCI disk, SCSI disks) load, and its own re-save is byte-identical to ours", () => {
      const text = writeRuntime(created(), "C");
      const res = ok(ganeti(peer, [{ op: "load", text }])[0]);
      expect(theirDevices(res)).toEqual(ourDevices(text));
      expect(res.disks[1]?.hvinfo).toEqual({ driver: "scsi-hd", id: "disk-7c079136-2573-4112", bus: "scsi.0", channel: 0, "scsi-id": 0, lun: 0 });
      expect(res.resaved).toBe(text);
    });

    it("files it writes (FromDict → ToDict → serializer, and its re-save of each fixture) read back through ours, byte-identical when unchanged", () => {
      const rt = created();
      const fx = runtimeFixtures().filter((f) => peer.readsGenerationA || readRuntime(f.text).generation !== "A");
      const ops: Op[] = [
        { op: "save", kvm_cmd: rt.kvmCmd, nics: rt.nics, hvparams: rt.hvparams, disks: rt.disks.map((e) => [e.disk, e.linkName, e.uri]) },
        ...fx.map((f) => ({ op: "load" as const, text: f.text })),
      ];
      const results = ganeti(peer, ops);
      const saved = ok(results[0]).text;
      expect(saved).toBe(writeRuntime(rt, "C"));
      results.slice(1).forEach((r, i) => {
        const res = ok(r);
        const doc = readRuntime(res.resaved);
        const label = `${peer.name}'s re-save of ${fx[i]?.name}`;
        expect(doc.generation, label).toBe("C");
        expect(writeRuntime(doc.runtime, "C"), label).toBe(res.resaved);
        expect(ourDevices(res.resaved), label).toEqual(theirDevices(res));
        expect(doc.runtime.kvmCmd, label).toEqual(res.kvm_cmd);
        expect(doc.runtime.hvparams, label).toEqual(res.hvparams);
        // Already upgraded: reading it again changes nothing.
        expect(doc.notes.filter((n) => n.rule !== "generation"), label).toEqual([]);
      });
      expect(readRuntime(saved).notes).toEqual([]);
    });

    it("our B → C conversion is byte-identical to its own re-save of the B file, py2 key orders included", () => {
      const t = readFixture(FX.b);
      const c = writeRuntime(readRuntime(t).runtime, "C");
      const [a, b] = ganeti(peer, [{ op: "load", text: c }, { op: "load", text: t }]);
      expect(ok(a).resaved).toBe(ok(b).resaved);
    });

    it(`${peer.readsGenerationA ? "loads" : "cannot load"} a generation A file (3 entries)`, () => {
      const [r] = ganeti(peer, [{ op: "load", text: readFixture(FX.a) }]);
      if (peer.readsGenerationA) {
        expect(theirDevices(ok(r))).toEqual(ourDevices(readFixture(FX.a)));
      } else {
        // So a file such a Ganeti may read must be written as B or C (Ganeti 3.0 writes C anyway).
        expect(r?.ok).toBe(false);
        expect(r?.error).toMatch(/IndexError/);
      }
    });

    it("device ids: ours are the ones it derives from the uuid, for many uuids", () => {
      const uuids = fc.sample(fc.uuid(), { numRuns: 200, seed: 14 });
      const r = ok(ganeti(peer, [{ op: "device_ids", uuids }])[0]);
      expect(uuids.map((u) => deviceIdV2("nic", u))).toEqual(r.nic);
      expect(uuids.map((u) => deviceIdV2("disk", u))).toEqual(r.disk);
    });
  });
}

// ---- the in-memory upgrade, rule by rule, against both loaders ----------

const SEGMENTS = fc.record({
  localtime: fc.boolean(),
  balloon: fc.constantFrom(null, "virtio", "virtio,id=balloon,bus=pci.0,addr=0x3"),
  vnc: fc.option(fc.subarray(["tls", "x509=/etc/ganeti/vnc", "x509verify=/etc/ganeti/vnc-v", "password", "lossy"]).map((opts) => [":5100", ...opts].join(","))),
  chroot: fc.boolean(),
  order: fc.nat(5),
});

const CASE = fc.record({
  generation: fc.constantFrom("A", "B", "C"),
  segments: SEGMENTS,
  nicType: fc.constantFrom("paravirtual", "e1000", "rtl8139"),
  diskType: fc.constantFrom("paravirtual", "scsi-hd"),
  discard: fc.constantFrom(undefined, "default", "ignore", "unmap", "sometimes"),
  nics: fc.uniqueArray(fc.record({ uuid: fc.uuid(), slot: fc.integer({ min: 3, max: 31 }) }), { maxLength: 3, selector: (n) => n.slot }),
  disks: fc.uniqueArray(fc.record({ uuid: fc.uuid(), slot: fc.integer({ min: 3, max: 31 }), size: fc.nat(1 << 20) }), { maxLength: 2, selector: (d) => d.slot }),
});

/** A runtime file as the given generation lays it out, with the kvm_cmd options Ganeti rewrites on load. */
type Case = typeof CASE extends fc.Arbitrary<infer T> ? T : never;

function caseText(c: Case): string {
  const s = c.segments;
  const parts: (string | number)[][] = [];
  if (s.localtime) parts.push(["-localtime"]);
  if (s.balloon) parts.push(["-balloon", s.balloon]);
  if (s.vnc) parts.push(["-vnc", s.vnc]);
  if (s.chroot) parts.push(["-chroot", "/var/run/ganeti/kvm-hypervisor/chroot/inst1"]);
  parts.push(["-m", 1024]);
  const rotated = [...parts.slice(s.order % parts.length), ...parts.slice(0, s.order % parts.length)];
  const kvmCmd = ["/usr/bin/kvm", "-name", "inst1", ...rotated.flat()];
  const hvparams: Record<string, unknown> = { disk_type: c.diskType, nic_type: c.nicType, ...(c.discard === undefined ? {} : { disk_discard: c.discard }) };
  const slotKey = (slot: number, kind: "nic" | "disk", uuid: string, driver: string): Record<string, unknown> =>
    c.generation === "B"
      ? { pci: slot }
      : c.generation === "C"
        ? { hvinfo: { driver, id: deviceIdV2(kind, uuid), bus: "pci.0", addr: `0x${slot.toString(16)}` } }
        : {};
  const nicDriver = c.nicType === "paravirtual" ? "virtio-net-pci" : c.nicType;
  const diskDriver = c.diskType === "paravirtual" ? "virtio-blk-pci" : c.diskType;
  const nics = c.nics.map((n, i) => ({ mac: `aa:00:00:00:00:${(16 + i).toString(16)}`, nicparams: { link: "br0", mode: "bridged" }, ...slotKey(n.slot, "nic", n.uuid, nicDriver), uuid: n.uuid }));
  const disks = c.disks.map((d, i) => [
    { dev_type: "plain", logical_id: ["xenvg", `${d.uuid}.disk${i}`], iv_name: `disk/${i}`, size: d.size, mode: "rw", params: { stripes: 1 }, ...slotKey(d.slot, "disk", d.uuid, diskDriver), uuid: d.uuid },
    `/var/run/ganeti/instance-disks/inst1:${i}`,
    null,
  ]);
  // Slots must not collide between NICs and disks.
  const used = new Set(c.nics.map((n) => n.slot));
  const freeDisks = c.generation === "A" ? [] : disks.filter((_, i) => !used.has(c.disks[i]!.slot));
  const top = c.generation === "A" ? [kvmCmd, nics, hvparams] : [kvmCmd, nics, hvparams, freeDisks];
  return dumpGanetiJson(fromPlain(top));
}

describe("conformance: our in-memory upgrade against both loaders, on 300 generated files", () => {
  const cases = fc.sample(CASE, { numRuns: 300, seed: 15 });
  const texts = cases.map((c) => caseText(c));

  beforeAll(() => {
    requirePeer(GANETI_30);
    requirePeer(GANETI_31);
  });

  it("the generated files cover every rule (so the comparison below means something)", () => {
    const rules = new Set(texts.flatMap((t) => readRuntime(t).notes.map((n) => n.rule)));
    for (const r of ["pci-to-hvinfo", "no-disk-list", "localtime", "balloon", "vnc-tls", "disk-discard", "chroot"]) expect(rules, r).toContain(r);
  });

  for (const peer of [GANETI_30, GANETI_31]) {
    it(`${peer.name}: devices, hvparams and kvm_cmd as ours, except the rules it does not have`, () => {
      const results = ganeti(peer, texts.map((text) => ({ op: "load" as const, text })));
      texts.forEach((text, i) => {
        if (!peer.readsGenerationA && cases[i]!.generation === "A") return;
        const ours = readRuntime(text).runtime;
        const theirs = ok(results[i]);
        const label = `case ${i}: ${text}`;
        expect(ours.nics, label).toEqual(theirs.nics.map((n) => n.dict));
        expect(ours.disks.map((e) => e.disk), label).toEqual(theirs.disks.map((d) => d.dict));
        // Neither 3.0.2 nor 3.1.0~rc2 drops -chroot on load (3.1.1 does; we show what 3.1.1+ runs).
        expect(ours.kvmCmd, label).toEqual(withoutChroot(theirs.kvm_cmd));
        // 3.1 maps a disk_discard it no longer knows ("default") to "ignore", inside its -vnc branch; 3.0 keeps it.
        const expectedHv = peer === GANETI_30 ? { ...ours.hvparams, ...(cases[i]!.discard === undefined ? {} : { disk_discard: cases[i]!.discard }) } : ours.hvparams;
        expect(theirs.hvparams, label).toEqual(expectedHv);
      });
    });
  }

  it("Ganeti 3.1.0 keeps -chroot on load (its rule came in 3.1.1); our reader shows the file as 3.1.1+ runs it, and says so", () => {
    const text = '[["/usr/bin/kvm", "-vnc", ":1", "-chroot", "/var/run/ganeti/kvm-hypervisor/chroot/inst1"], [], {}, []]\n';
    const [v, r] = ganeti(GANETI_31, [{ op: "version" }, { op: "load", text }]);
    const dropped = !ok(r).kvm_cmd.includes("-chroot");
    expect(dropped, `Ganeti ${ok(v).version}`).toBe(!/^3\.1\.0/.test(ok(v).version));
    const ours = readRuntime(text);
    expect(ours.runtime.kvmCmd).toEqual(["/usr/bin/kvm", "-vnc", ":1"]);
    expect(ours.notes.find((n) => n.rule === "chroot")?.detail).toMatch(/3\.1\.1/);
  });

  it("every generated file, written by us as B (where B can hold it) and as C, loads in Ganeti 3.1 with the devices we say it holds", () => {
    const ours = texts.flatMap((t) => ourWrites(t).filter((w) => w.generation !== "A"));
    expect(ours.filter((w) => w.generation === "B").length).toBeGreaterThan(50);
    const results = ganeti(GANETI_31, ours.map((w) => ({ op: "load" as const, text: w.text })));
    ours.forEach((w, i) => expect(theirDevices(ok(results[i])), w.text).toEqual(ourDevices(w.text)));
  });
});

// ---- Ganeti 2.16 ---------------------------------------------------------

describe("conformance: Ganeti 2.16's loader", () => {
  it("loads our generation C files, where its code is installed", (ctx) => {
    expect(existsSync(PYTHON), `${PYTHON} is missing: install python3`).toBe(true);
    const probe = ok(ganeti(GANETI_216, [{ op: "probe216" }])[0]);
    if (!probe.importable) ctx.skip(`Ganeti 2.16's hypervisor code is not installed: ${probe.detail}`);
    const fx = runtimeFixtures();
    const ours = fx.map((f) => writeRuntime(readRuntime(f.text).runtime, "C"));
    const results = ganeti(GANETI_216, ours.map((text) => ({ op: "load" as const, text })));
    ours.forEach((text, i) => expect(theirDevices(ok(results[i]))).toEqual(ourDevices(text)));
  });
});

describe("our reader on its own", () => {
  it("an hvinfo on pci.0 without addr is refused (no slot to place it in)", () => {
    const text = '[["/usr/bin/kvm"], [{"mac": "m", "hvinfo": {"driver": "virtio-net-pci", "id": "nic-x", "bus": "pci.0"}, "uuid": "x-1-2-3"}], {"nic_type": "paravirtual"}, []]\n';
    expect(() => readRuntime(text)).toThrow(/nics\[0\]\.hvinfo\.addr: missing/);
  });
});
