import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { displayPciAddr, formatPciAddr, guestPciAddress, parsePciAddr } from "../../shared/slots";

describe("formatPciAddr (Ganeti's hex())", () => {
  it("is lowercase and unpadded", () => {
    expect(formatPciAddr(0)).toBe("0x0");
    expect(formatPciAddr(12)).toBe("0xc");
    expect(formatPciAddr(16)).toBe("0x10");
    expect(formatPciAddr(31)).toBe("0x1f");
  });
  it("refuses slots outside 0..31", () => {
    for (const bad of [-1, 32, 1.5, Number.NaN]) expect(() => formatPciAddr(bad)).toThrow(RangeError);
  });
});

describe("displayPciAddr and guestPciAddress", () => {
  it("pad to two digits", () => {
    expect(displayPciAddr(3)).toBe("0x03");
    expect(displayPciAddr(0x1f)).toBe("0x1f");
    expect(guestPciAddress(0x10)).toBe("0000:00:10.0");
    expect(guestPciAddress(0xc)).toBe("0000:00:0c.0");
    expect(guestPciAddress(1, 3)).toBe("0000:00:01.3");
  });
  it("refuse a bad function", () => {
    expect(() => guestPciAddress(1, 8)).toThrow(RangeError);
  });
});

describe("parsePciAddr", () => {
  it("accepts 0x-prefixed hex, padded or not, any case", () => {
    expect(parsePciAddr("0xc")).toEqual({ ok: true, slot: 12 });
    expect(parsePciAddr("0x0c")).toEqual({ ok: true, slot: 12 });
    expect(parsePciAddr("0X0C")).toEqual({ ok: true, slot: 12 });
    expect(parsePciAddr(" 0x1f ")).toEqual({ ok: true, slot: 31 });
    expect(parsePciAddr("0x0")).toEqual({ ok: true, slot: 0 });
  });
  it("rejects bare digits as ambiguous and suggests both readings", () => {
    const r = parsePciAddr("12");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe("ambiguous-decimal");
      expect(r.message).toContain('"0xc" for slot 12');
      expect(r.message).toContain('"0x12" for slot 18');
    }
  });
  it("rejects empty, non-hex, bus/function forms and out-of-range values with a reason", () => {
    const cases: [string, string][] = [
      ["", "empty"],
      ["  ", "empty"],
      ["0x", "not-hex"],
      ["0xg", "not-hex"],
      ["00:0c.0", "not-hex"],
      ["0xc.0", "not-hex"],
      ["-0x1", "not-hex"],
      ["0x20", "out-of-range"],
      ["0xffffffffffffffffffff", "out-of-range"],
    ];
    for (const [input, code] of cases) {
      const r = parsePciAddr(input);
      expect(r.ok, input).toBe(false);
      if (!r.ok) {
        expect(r.code, input).toBe(code);
        expect(r.message.length).toBeGreaterThan(10);
      }
    }
  });
  it("round-trips both formats for every slot", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 31 }), (slot) => {
        expect(parsePciAddr(formatPciAddr(slot))).toEqual({ ok: true, slot });
        expect(parsePciAddr(displayPciAddr(slot))).toEqual({ ok: true, slot });
      }),
    );
  });
});
