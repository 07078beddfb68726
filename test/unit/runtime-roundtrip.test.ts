import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readRuntime, writeRuntime, type Generation } from "../../shared/runtime";
import { readFixture, runtimeFixtures } from "./runtime-fixtures";

const fixtures = runtimeFixtures();

describe("runtime: every fixture round-trips byte for byte", () => {
  it("has the expected fixtures (upstream + synthesized, A/B/C, py2/py3)", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(11);
    const gens = new Set(fixtures.map((f) => readRuntime(f.text).generation));
    expect([...gens].sort()).toEqual(["A", "B", "C"]);
  });

  for (const f of fixtures) {
    it(`${f.name}${f.oneLineOnDisk ? "" : " (pretty-printed on disk; compared in one-line form)"}`, () => {
      const doc = readRuntime(f.text);
      expect(writeRuntime(doc.runtime, doc.generation)).toBe(f.text);
    });
  }

  it("expected generations", () => {
    const gen = (rel: string): Generation => readRuntime(readFixture(rel)).generation;
    expect(gen("kvm_runtime.v2.10-2.15.pci.json")).toBe("B");
    expect(gen("kvm_runtime.v2.16-master.hvinfo.json")).toBe("C");
    expect(gen("synthesized/runtime.gen-A.v2.9-py2.json")).toBe("A");
    expect(gen("synthesized/runtime.gen-B.v2.15-py2.json")).toBe("B");
    expect(gen("synthesized/runtime.gen-C.v2.16-py2.json")).toBe("C");
    expect(gen("synthesized/runtime.gen-C.v3.x-py3.json")).toBe("C");
  });
});

describe("runtime: upgrade then write is stable", () => {
  for (const f of fixtures) {
    it(`idempotent: read → write C → read gives the same model (${f.name})`, () => {
      const a = readRuntime(f.text);
      const c1 = writeRuntime(a.runtime, "C");
      const b = readRuntime(c1);
      expect(b.generation).toBe("C");
      expect(b.runtime.nics).toEqual(a.runtime.nics);
      expect(b.runtime.disks).toEqual(a.runtime.disks);
      expect(b.runtime.kvmCmd).toEqual(a.runtime.kvmCmd);
      expect(b.runtime.hvparams).toEqual(a.runtime.hvparams);
      expect(writeRuntime(b.runtime, "C")).toBe(c1);
    });
  }

  it("B → C → B gives back the B content for the file's own readers (upgraded ids are old-style)", () => {
    for (const rel of ["synthesized/runtime.gen-B.v2.15-py2.json", "kvm_runtime.v2.10-2.15.pci.json"]) {
      const t = readFixture(rel);
      const c = writeRuntime(readRuntime(t).runtime, "C");
      const back = readRuntime(c);
      const b = writeRuntime(back.runtime, { generation: "B", readers: ["2.15.2"] });
      expect(readRuntime(b).runtime.nics).toEqual(readRuntime(t).runtime.nics);
      expect(readRuntime(b).runtime.disks).toEqual(readRuntime(t).runtime.disks);
    }
  });

  it("C → B for every B reader drops the disk keys Ganeti 2.10 rejects (the 2.15 file's nodes, serial_no, ctime, mtime)", () => {
    const t = readFixture("synthesized/runtime.gen-B.v2.15-py2.json");
    const c = writeRuntime(readRuntime(t).runtime, "C");
    const b = readRuntime(writeRuntime(readRuntime(c).runtime, "B"));
    for (const e of b.runtime.disks) for (const k of ["nodes", "serial_no", "ctime", "mtime"]) expect(e.disk, k).not.toHaveProperty(k);
    expect(b.runtime.nics).toEqual(readRuntime(t).runtime.nics);
  });

  it("A → C adds hvinfo {} as Ganeti does, and C → A removes it again", () => {
    const t = readFixture("synthesized/runtime.gen-A.v2.9-py2.json");
    const c = writeRuntime(readRuntime(t).runtime, "C");
    expect(c).toContain('"nicparams": {"link": "br0", "mode": "bridged"}, "hvinfo": {}, "uuid"');
    expect(c.trimEnd().endsWith(", []]")).toBe(true);
    expect(writeRuntime(readRuntime(c).runtime, "A")).toBe(t);
  });

  it("property: unrelated hvparams edits keep every other byte", () => {
    const t = readFixture("synthesized/runtime.gen-C.v2.16-py2.json");
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }).filter((k) => k !== "__proto__"), fc.integer(), (key, value) => {
        const doc = readRuntime(t);
        const rt = { ...doc.runtime, hvparams: { ...doc.runtime.hvparams, [`x_${key}`]: value } };
        const out = writeRuntime(rt, "C");
        const back = readRuntime(out);
        expect(back.runtime.hvparams[`x_${key}`]).toBe(value);
        expect(back.runtime.nics).toEqual(doc.runtime.nics);
        expect(out.startsWith(t.slice(0, t.indexOf('"acpi": true}')))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});
