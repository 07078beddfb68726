import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import {
  PyDict,
  PyFloat,
  PyJsonError,
  dumpGanetiJson,
  dumpPyJson,
  parsePyJson,
  pyFloatRepr,
  type PyValue,
} from "../../shared/pyjson";

const PYTHON = "/usr/bin/python3";
const roundTrip = (t: string): string => dumpPyJson(parsePyJson(t));

describe("pyjson: layout and escapes", () => {
  it("writes one line with Python's separators", () => {
    expect(roundTrip('{"a":[1,2,{"b":null}],"c":true,"d":false}')).toBe('{"a": [1, 2, {"b": null}], "c": true, "d": false}');
    expect(roundTrip("[]")).toBe("[]");
    expect(roundTrip("{}")).toBe("{}");
    expect(roundTrip(' \n[ 1 ,\t2 ]\r\n')).toBe("[1, 2]");
  });

  it("escapes like ensure_ascii=True", () => {
    expect(dumpPyJson('"\\/\b\f\n\r\t')).toBe('"\\"\\\\/\\b\\f\\n\\r\\t"');
    expect(dumpPyJson("\u0000\u0001\u001f\u007f")).toBe('"\\u0000\\u0001\\u001f\\u007f"');
    expect(dumpPyJson("é€")).toBe('"\\u00e9\\u20ac"');
    expect(dumpPyJson("😀")).toBe('"\\ud83d\\ude00"');
    expect(dumpPyJson("\ud800")).toBe('"\\ud800"'); // lone surrogate, as Python keeps it
    expect(parsePyJson('"\\ud83d\\ude00"')).toBe("😀");
    expect(parsePyJson('"\\u00E9\\/"')).toBe("é/");
  });

  it("keeps key order, including integer-like keys", () => {
    const t = '{"b": 1, "0": 2, "a": 3, "10": 4, "1": 5}';
    const v = parsePyJson(t);
    expect(v).toBeInstanceOf(PyDict);
    expect((v as PyDict).keys()).toEqual(["b", "0", "a", "10", "1"]);
    expect(dumpPyJson(v)).toBe(t);
  });

  it("handles duplicate keys like a Python dict (last value, first position)", () => {
    expect(roundTrip('{"a": 1, "b": 2, "a": 3}')).toBe('{"a": 3, "b": 2}');
  });

  it("keeps ints and floats distinct", () => {
    expect(roundTrip("[1500000000.0, 1500000000, 0.5, -0.0, -0, 1E5, 1e-7, 100.25]")).toBe(
      "[1500000000.0, 1500000000, 0.5, -0.0, 0, 100000.0, 1e-07, 100.25]",
    );
    expect(dumpPyJson(new PyFloat(3))).toBe("3.0");
    expect(dumpPyJson(3)).toBe("3");
    expect(dumpPyJson(2.5)).toBe("2.5");
  });

  it("formats floats like Python repr", () => {
    const cases: [number, string][] = [
      [1e16, "1e+16"],
      [1e15, "1000000000000000.0"],
      [1.2345678901234568e17, "1.2345678901234568e+17"],
      [0.0001, "0.0001"],
      [0.00001, "1e-05"],
      [1.5e-10, "1.5e-10"],
      [1e100, "1e+100"],
      [5e-324, "5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [0.1, "0.1"],
      [1 / 3, "0.3333333333333333"],
      [1721112669.1474214, "1721112669.1474214"],
      [-2.5e22, "-2.5e+22"],
      [Infinity, "Infinity"],
      [-Infinity, "-Infinity"],
      [NaN, "NaN"],
    ];
    for (const [x, s] of cases) expect(pyFloatRepr(x)).toBe(s);
    expect(roundTrip("[NaN, Infinity, -Infinity, 1e400]")).toBe("[NaN, Infinity, -Infinity, Infinity]");
  });

  it("keeps big ints exact", () => {
    expect(roundTrip("[9007199254740993, -123456789012345678901234567890]")).toBe(
      "[9007199254740993, -123456789012345678901234567890]",
    );
    expect(typeof parsePyJson("9007199254740993")).toBe("bigint");
    expect(parsePyJson("9007199254740991")).toBe(9007199254740991);
  });

  it("dumpGanetiJson strips trailing blanks and adds one newline", () => {
    expect(dumpGanetiJson(["a ", 1])).toBe('["a ", 1]\n');
  });
});

describe("pyjson: errors", () => {
  const bad: [string, RegExp][] = [
    ["", /Expecting value: line 1 column 1 \(char 0\)/],
    ["[1, 2", /Expecting ',' delimiter: line 1 column 6 \(char 5\)/],
    ['{"a" 1}', /Expecting ':' delimiter/],
    ["{a: 1}", /Expecting property name enclosed in double quotes/],
    ['"abc', /Unterminated string starting at: line 1 column 1/],
    ['"a\u0000b"', /Invalid control character at: line 1 column 3/],
    ['"\\x"', /Invalid \\escape/],
    ['"\\u12g4"', /Invalid \\uXXXX escape/],
    ["[1] x", /Extra data: line 1 column 5/],
    ["01", /Extra data/],
    ["[1.]", /Expecting ',' delimiter/],
    ["[.5]", /Expecting value/],
    ["tru", /Expecting value/],
    ["[1,\n 2,\n ]", /Expecting value: line 3 column 2/],
  ];
  for (const [text, re] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => parsePyJson(text)).toThrow(PyJsonError);
      expect(() => parsePyJson(text)).toThrow(re);
    });
  }

  it("reports position fields", () => {
    try {
      parsePyJson('{\n  "a": [1,, 2]\n}');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PyJsonError);
      const err = e as PyJsonError;
      expect(err.line).toBe(2);
      expect(err.column).toBe(11);
      expect(err.position).toBe(12);
    }
  });

  it("refuses texts over 16 MiB", () => {
    const huge = "[" + " ".repeat(16 * 1024 * 1024) + "]";
    expect(() => parsePyJson(huge)).toThrow(/more than the limit of 16777216 \(16 MiB\)/);
  });

  it("refuses deep nesting without blowing the stack", () => {
    const deep = "[".repeat(100000) + "]".repeat(100000);
    expect(() => parsePyJson(deep)).toThrow(/Nesting deeper than 512 levels/);
    const ok = "[".repeat(500) + "]".repeat(500);
    expect(dumpPyJson(parsePyJson(ok))).toBe(ok);
  });
});

// ------------------------------------------------ conformance with Python

const jsonText: fc.Arbitrary<string> = fc
  .letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant("null"),
      fc.constantFrom("true", "false"),
      fc.integer({ min: -1e12, max: 1e12 }).map(String),
      fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Number.isInteger(d) && !String(d).includes("e") ? `${d}.0` : String(d))),
      fc.constantFrom("1.0", "1e16", "1E-5", "-0.0", "2.5e-300", "123456789.125", "1e22", "NaN", "Infinity", "-Infinity"),
      fc.string({ unit: "binary" }).map((s) => JSON.stringify(s)),
      fc.string({ unit: "grapheme" }).map((s) => JSON.stringify(s)),
      fc.array(tie("value"), { maxLength: 5 }).map((a) => `[${a.join(",")}]`),
      fc
        .array(fc.tuple(fc.oneof(fc.string(), fc.integer({ min: 0, max: 100 }).map(String)), tie("value")), { maxLength: 5 })
        .map((es) => `{${es.map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(", ")}}`),
    ),
  }))
  .value;

function pythonDumps(texts: string[]): string[] {
  const script =
    "import json,sys\n" +
    "for line in sys.stdin.read().split('\\n'):\n" +
    "    if line: print(json.dumps(json.loads(json.loads(line))))\n";
  const input = texts.map((t) => JSON.stringify(t)).join("\n") + "\n";
  const out = execFileSync(PYTHON, ["-c", script], { input, encoding: "utf8", maxBuffer: 1 << 28 });
  return out.split("\n").slice(0, texts.length);
}

describe("pyjson: conformance with CPython's json.dumps(json.loads(t))", () => {
  it("python3 is present", () => {
    expect(existsSync(PYTHON), `${PYTHON} is missing: install the python3 package`).toBe(true);
  });

  it("matches Python byte for byte on 1500 random documents", () => {
    const samples = fc.sample(jsonText, { numRuns: 1500, seed: 42 });
    const expected = pythonDumps(samples);
    const mismatches: string[] = [];
    samples.forEach((t, i) => {
      const ours = roundTrip(t);
      if (ours !== expected[i]) mismatches.push(`input ${t}\n ours ${ours}\n  py  ${expected[i]}`);
    });
    expect(mismatches.slice(0, 5).join("\n")).toBe("");
  });

  it("floats: repr matches Python for 3000 random doubles", () => {
    const doubles = fc.sample(fc.double({ noNaN: true }), { numRuns: 3000, seed: 7 });
    const lit = (d: number): string =>
      Object.is(d, -0) ? "-0.0" : Number.isFinite(d) ? d.toExponential() : d > 0 ? "Infinity" : "-Infinity";
    const expected = pythonDumps(doubles.map((d) => `[${lit(d)}]`));
    const mismatches = doubles
      .map((d, i) => [dumpPyJson([new PyFloat(d)] as PyValue[]), expected[i]])
      .filter(([ours, py]) => ours !== py);
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it("property: parse ∘ dump is the identity on Python output", () => {
    fc.assert(
      fc.property(jsonText, (t) => {
        const once = roundTrip(t);
        expect(roundTrip(once)).toBe(once);
      }),
      { numRuns: 300 },
    );
  });
});
