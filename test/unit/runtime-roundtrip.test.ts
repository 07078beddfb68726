import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { readRuntime, writeRuntime, type Generation } from "../../shared/runtime";
import { FX, UPSTREAM_NAME, readFixture, readUpstream, runtimeFixtures } from "./runtime-fixtures";

const fixtures = runtimeFixtures();

describe("runtime: every fixture round-trips byte for byte", () => {
  it("has the expected fixtures (ours A/B/C in py2 and py3 layouts, and Ganeti's upstream file)", () => {
    expect(fixtures.map((f) => f.name)).toEqual([FX.a, FX.b, FX.cPy2, FX.cPy3, UPSTREAM_NAME]);
    const gens = new Set(fixtures.map((f) => readRuntime(f.text).generation));
    expect([...gens].sort()).toEqual(["A", "B", "C"]);
  });

  for (const f of fixtures) {
    // A file pretty-printed on disk (Ganeti's upstream one) is compared in its one-line form.
    it(f.name, () => {
      const doc = readRuntime(f.text);
      expect(writeRuntime(doc.runtime, doc.generation)).toBe(f.text);
    });
  }

  it("expected generations", () => {
    const gen = (rel: string): Generation => readRuntime(readFixture(rel)).generation;
    expect(readRuntime(readUpstream()).generation).toBe("C");
    expect(gen(FX.a)).toBe("A");
    expect(gen(FX.b)).toBe("B");
    expect(gen(FX.cPy2)).toBe("C");
    expect(gen(FX.cPy3)).toBe("C");
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

  it("B → C → B gives back the B bytes for the file's own readers (upgraded ids are old-style)", () => {
    const t = readFixture(FX.b);
    const c = writeRuntime(readRuntime(t).runtime, "C");
    const back = readRuntime(c);
    const b = writeRuntime(back.runtime, { generation: "B", readers: ["2.15.2"] });
    expect(readRuntime(b).runtime.nics).toEqual(readRuntime(t).runtime.nics);
    expect(readRuntime(b).runtime.disks).toEqual(readRuntime(t).runtime.disks);
    expect(b).toBe(t);
  });

  it("C → B for every B reader drops the disk keys Ganeti 2.10 rejects (the 2.15 file's nodes, serial_no, ctime, mtime)", () => {
    const t = readFixture(FX.b);
    const c = writeRuntime(readRuntime(t).runtime, "C");
    const b = readRuntime(writeRuntime(readRuntime(c).runtime, "B"));
    for (const e of b.runtime.disks) for (const k of ["nodes", "serial_no", "ctime", "mtime"]) expect(e.disk, k).not.toHaveProperty(k);
    expect(b.runtime.nics).toEqual(readRuntime(t).runtime.nics);
  });

  it("A → C adds hvinfo {} as Ganeti does, and C → A removes it again", () => {
    const t = readFixture(FX.a);
    const c = writeRuntime(readRuntime(t).runtime, "C");
    expect(c).toContain('"nicparams": {"link": "br0", "mode": "bridged"}, "hvinfo": {}, "uuid"');
    expect(c.trimEnd().endsWith(", []]")).toBe(true);
    expect(writeRuntime(readRuntime(c).runtime, "A")).toBe(t);
  });

  it("property: unrelated hvparams edits keep every other byte", () => {
    const t = readFixture(FX.cPy2);
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
