// A runtime file's bytes become text exactly or not at all (shared/runtime/text.ts).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeRuntimeBytes } from "../../shared/runtime/text";

const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const valid = (b: Uint8Array): boolean => {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
};

describe("decodeRuntimeBytes", () => {
  it("gives UTF-8 text exactly, including a literal U+FFFD and a BOM", () => {
    const text = '\uFEFF[["kvm", "\u00e9\uFFFD\u{1F600}"], [], {}, []]\n';
    expect(decodeRuntimeBytes(new TextEncoder().encode(text))).toEqual({ ok: true, text });
  });

  it("names the first byte that is not UTF-8", () => {
    expect(decodeRuntimeBytes(Uint8Array.from([0x5b, 0x22, 0xff, 0x22]))).toEqual({ ok: false, offset: 2 });
    expect(decodeRuntimeBytes(Uint8Array.from([0x61, 0xc3]))).toEqual({ ok: false, offset: 1 }); // cut short
    expect(decodeRuntimeBytes(Uint8Array.from([0x61, 0xed, 0xa0, 0x80]))).toEqual({ ok: false, offset: 1 }); // a surrogate
    expect(decodeRuntimeBytes(Uint8Array.from([0xc0, 0xaf]))).toEqual({ ok: false, offset: 0 }); // overlong
  });

  it("refuses exactly what a strict decoder refuses, and the bytes before the offset are valid while the sequence at it is not", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.tuple(fc.string({ unit: "grapheme", maxLength: 12 }), fc.uint8Array({ maxLength: 3 }), fc.string({ maxLength: 6 })).map(([a, junk, b]) => {
        const e = new TextEncoder();
        return Uint8Array.from([...e.encode(a), ...junk, ...e.encode(b)]);
      }),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        const d = decodeRuntimeBytes(b);
        expect(d.ok).toBe(valid(b));
        if (!d.ok) {
          expect(valid(b.subarray(0, d.offset))).toBe(true);
          expect(valid(b.subarray(0, Math.min(b.length, d.offset + 4)))).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
