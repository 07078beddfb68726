/**
 * JSON exactly as Python's `json` module reads and writes it with default
 * arguments (`json.loads(text)` / `json.dumps(obj)`):
 *
 * - output on one line, separators ", " and ": ", `ensure_ascii=True`
 *   (every code unit outside 0x20..0x7e escaped as lowercase `\uXXXX`, except
 *   the short escapes \" \\ \n \r \t \b \f), `allow_nan=True`;
 * - object key order preserved exactly as parsed (a {@link PyDict} keeps its
 *   entries in an array, so integer-like keys such as "0" never move);
 *   duplicate keys behave like a Python dict: the last value wins, the
 *   position of the first occurrence is kept;
 * - ints and floats stay distinct: a float is a {@link PyFloat} (or a
 *   non-integral JS number) and is written with Python's `repr` (shortest
 *   round-trip digits, exponent form when the decimal exponent is < -4 or
 *   >= 16, e.g. `1e+16`, `1e-05`, `1500000000.0`); ints beyond 2^53 are
 *   `bigint`.
 *
 * Pure: no I/O.
 */

/** A Python float. Wrapping keeps `1.0` a float when it is written back. */
export class PyFloat {
  constructor(readonly value: number) {}
  toString(): string {
    return pyFloatRepr(this.value);
  }
}

/** An ordered dict, as Python 3.7+ keeps it: insertion order, no reordering. */
export class PyDict {
  private readonly _keys: string[] = [];
  private readonly _values = new Map<string, PyValue>();

  constructor(entries?: Iterable<readonly [string, PyValue]>) {
    if (entries) for (const [k, v] of entries) this.set(k, v);
  }

  get size(): number {
    return this._keys.length;
  }
  has(key: string): boolean {
    return this._values.has(key);
  }
  get(key: string): PyValue | undefined {
    return this._values.get(key);
  }
  /** Like `d[key] = value`: an existing key keeps its position. */
  set(key: string, value: PyValue): this {
    if (!this._values.has(key)) this._keys.push(key);
    this._values.set(key, value);
    return this;
  }
  delete(key: string): boolean {
    if (!this._values.has(key)) return false;
    this._values.delete(key);
    this._keys.splice(this._keys.indexOf(key), 1);
    return true;
  }
  keys(): string[] {
    return [...this._keys];
  }
  entries(): [string, PyValue][] {
    return this._keys.map((k) => [k, this._values.get(k) as PyValue]);
  }
  [Symbol.iterator](): IterableIterator<[string, PyValue]> {
    return this.entries()[Symbol.iterator]();
  }
}

/**
 * A value as Python's json module sees it. `number` is an int when
 * `Number.isInteger` holds and a float otherwise; use {@link PyFloat} for a
 * float with an integral value. `bigint` is an int beyond 2^53.
 */
export type PyValue = null | boolean | number | bigint | string | PyFloat | PyValue[] | PyDict;

export const PYJSON_MAX_CHARS = 16 * 1024 * 1024;
export const PYJSON_MAX_DEPTH = 512;

export class PyJsonError extends Error {
  constructor(
    message: string,
    /** Offset (UTF-16 code units) into the text, when known. */
    readonly position?: number,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
    this.name = "PyJsonError";
  }
}

export interface ParseOptions {
  /** Refuse texts longer than this many characters (default 16 MiB). */
  maxChars?: number;
  /** Refuse nesting deeper than this (default 512). */
  maxDepth?: number;
}

// ---------------------------------------------------------------- parsing

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

/** Parse like Python's `json.loads` (strict=True, NaN/Infinity accepted). */
export function parsePyJson(text: string, options: ParseOptions = {}): PyValue {
  const maxChars = options.maxChars ?? PYJSON_MAX_CHARS;
  const maxDepth = options.maxDepth ?? PYJSON_MAX_DEPTH;
  if (typeof text !== "string") throw new PyJsonError("expected a string of JSON text");
  if (text.length > maxChars) {
    throw new PyJsonError(`JSON text is ${text.length} characters, more than the limit of ${maxChars} (16 MiB); refusing to parse it`);
  }
  let pos = 0;

  const fail = (msg: string, at: number = pos): never => {
    let line = 1;
    let lastNl = -1;
    for (let i = 0; i < at && i < text.length; i++) {
      if (text.charCodeAt(i) === 0x0a) {
        line++;
        lastNl = i;
      }
    }
    const column = at - lastNl;
    throw new PyJsonError(`${msg}: line ${line} column ${column} (char ${at})`, at, line, column);
  };

  const skipWs = (): void => {
    while (pos < text.length && WS.has(text.charCodeAt(pos))) pos++;
  };

  const parseString = (): string => {
    // text[pos] === '"'
    const start = pos;
    pos++;
    let out = "";
    let chunkStart = pos;
    for (;;) {
      if (pos >= text.length) fail("Unterminated string starting at", start);
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(chunkStart, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail("Invalid control character at");
      if (c === 0x5c) {
        out += text.slice(chunkStart, pos);
        const esc = text[pos + 1];
        if (esc === undefined) fail("Unterminated string starting at", start);
        switch (esc) {
          case '"': out += '"'; pos += 2; break;
          case "\\": out += "\\"; pos += 2; break;
          case "/": out += "/"; pos += 2; break;
          case "b": out += "\b"; pos += 2; break;
          case "f": out += "\f"; pos += 2; break;
          case "n": out += "\n"; pos += 2; break;
          case "r": out += "\r"; pos += 2; break;
          case "t": out += "\t"; pos += 2; break;
          case "u": {
            const hex = text.slice(pos + 2, pos + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("Invalid \\uXXXX escape", pos + 1);
            out += String.fromCharCode(parseInt(hex, 16));
            pos += 6;
            break;
          }
          default:
            fail("Invalid \\escape", pos);
        }
        chunkStart = pos;
        continue;
      }
      pos++;
    }
  };

  const parseValue = (depth: number): PyValue => {
    skipWs();
    if (pos >= text.length) fail("Expecting value");
    const c = text[pos];
    if (c === "{" || c === "[") {
      if (depth >= maxDepth) fail(`Nesting deeper than ${maxDepth} levels`);
    }
    if (c === "{") {
      pos++;
      const d = new PyDict();
      skipWs();
      if (text[pos] === "}") {
        pos++;
        return d;
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail("Expecting property name enclosed in double quotes");
        const key = parseString();
        skipWs();
        if (text[pos] !== ":") fail("Expecting ':' delimiter");
        pos++;
        const v = parseValue(depth + 1);
        d.set(key, v);
        skipWs();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] === "}") {
          pos++;
          return d;
        }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === "[") {
      pos++;
      const arr: PyValue[] = [];
      skipWs();
      if (text[pos] === "]") {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWs();
        if (text[pos] === ",") {
          pos++;
          continue;
        }
        if (text[pos] === "]") {
          pos++;
          return arr;
        }
        fail("Expecting ',' delimiter");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith("null", pos)) {
      pos += 4;
      return null;
    }
    if (text.startsWith("true", pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith("false", pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith("NaN", pos)) {
      pos += 3;
      return new PyFloat(NaN);
    }
    if (text.startsWith("Infinity", pos)) {
      pos += 8;
      return new PyFloat(Infinity);
    }
    if (text.startsWith("-Infinity", pos)) {
      pos += 9;
      return new PyFloat(-Infinity);
    }
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (!m) return fail("Expecting value");
    pos += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const digits = m[0];
      if (digits.length > 4300) fail("Integer has more than 4300 digits (Python's limit)", pos - digits.length);
      const n = Number(digits);
      if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
      return BigInt(digits);
    }
    return new PyFloat(Number(m[0]));
  };

  const value = parseValue(0);
  skipWs();
  if (pos !== text.length) fail("Extra data");
  return value;
}

// ------------------------------------------------------------- serializing

/** Python's `repr(float)`. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // Shortest round-trip digits, from JS (same algorithm family as Python's
  // repr: both give the shortest string that round-trips).
  const [mant = "", expStr = "0"] = Math.abs(x).toExponential().split("e");
  const digits = mant.replace(".", "");
  const exp = Number(expStr); // value = d.ddd × 10^exp
  const decpt = exp + 1; // value = 0.ddd × 10^decpt
  if (decpt <= -4 || decpt > 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp);
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" : ""}${e}`;
  }
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"',
  0x5c: "\\\\",
  0x0a: "\\n",
  0x0d: "\\r",
  0x09: "\\t",
  0x08: "\\b",
  0x0c: "\\f",
};

/** `json.dumps(s)` for a str with ensure_ascii=True. */
export function pyStringRepr(s: string): string {
  let out = '"';
  let chunkStart = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(chunkStart, i);
    out += SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`;
    chunkStart = i + 1;
  }
  return out + s.slice(chunkStart) + '"';
}

/** `json.dumps(value)` with default arguments; no trailing newline. */
export function dumpPyJson(value: PyValue): string {
  const parts: string[] = [];
  const seen = new Set<object>();
  const walk = (v: PyValue, depth: number): void => {
    if (depth > PYJSON_MAX_DEPTH) throw new PyJsonError(`Nesting deeper than ${PYJSON_MAX_DEPTH} levels`);
    if (v === null) parts.push("null");
    else if (v === true) parts.push("true");
    else if (v === false) parts.push("false");
    else if (typeof v === "string") parts.push(pyStringRepr(v));
    else if (typeof v === "bigint") parts.push(v.toString());
    else if (typeof v === "number") {
      if (Number.isInteger(v)) parts.push(Object.is(v, -0) ? "0" : String(v));
      else parts.push(pyFloatRepr(v));
    } else if (v instanceof PyFloat) parts.push(pyFloatRepr(v.value));
    else if (Array.isArray(v)) {
      if (seen.has(v)) throw new PyJsonError("Circular reference detected");
      seen.add(v);
      parts.push("[");
      v.forEach((item, i) => {
        if (i) parts.push(", ");
        walk(item, depth + 1);
      });
      parts.push("]");
      seen.delete(v);
    } else if (v instanceof PyDict) {
      if (seen.has(v)) throw new PyJsonError("Circular reference detected");
      seen.add(v);
      parts.push("{");
      let first = true;
      for (const [k, item] of v.entries()) {
        if (!first) parts.push(", ");
        first = false;
        parts.push(pyStringRepr(k), ": ");
        walk(item, depth + 1);
      }
      parts.push("}");
      seen.delete(v);
    } else {
      throw new PyJsonError(`Object of type ${Object.prototype.toString.call(v)} is not JSON serializable`);
    }
  };
  walk(value, 0);
  return parts.join("");
}

/**
 * Ganeti's `serializer.DumpJson`: `json.dumps(data)`, trailing blanks
 * stripped from every line, then exactly one trailing newline.
 */
export function dumpGanetiJson(value: PyValue): string {
  const txt = dumpPyJson(value).replace(/[ \t]+$/gm, "");
  return txt.endsWith("\n") ? txt : txt + "\n";
}

// ----------------------------------------------------- plain JS conversion

/** A JSON-like plain JS value (what zod schemas and IPC see). */
export type PlainValue = null | boolean | number | bigint | string | PlainValue[] | { [key: string]: PlainValue };

/**
 * Convert to plain JS: PyDict → object (own data properties, integer-like
 * keys reorder: keep the PyValue when order matters), PyFloat → number.
 */
export function toPlain(v: PyValue): PlainValue {
  if (v instanceof PyFloat) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof PyDict) {
    const o: { [key: string]: PlainValue } = {};
    for (const [k, item] of v.entries()) {
      Object.defineProperty(o, k, { value: toPlain(item), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  return v;
}

function isPlainObject(v: unknown): v is { [key: string]: unknown } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof PyDict) && !(v instanceof PyFloat);
}

/**
 * Convert plain JS to PyValue: objects → PyDict in JS key order; numbers
 * stay numbers (integral → int, otherwise float). `undefined` object members
 * are dropped (as Ganeti's ToDict drops None slots).
 */
export function fromPlain(v: unknown): PyValue {
  if (v === null || typeof v === "boolean" || typeof v === "string" || typeof v === "bigint") return v;
  if (typeof v === "number") return v;
  if (v instanceof PyFloat || v instanceof PyDict) return v;
  if (Array.isArray(v)) return v.map(fromPlain);
  if (isPlainObject(v)) {
    const d = new PyDict();
    for (const k of Object.keys(v)) {
      const item = v[k];
      if (item !== undefined) d.set(k, fromPlain(item));
    }
    return d;
  }
  throw new PyJsonError(`cannot convert ${typeof v} to JSON`);
}

/** Deep equality of plain values (numbers by value, objects ignoring order). */
export function plainEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => plainEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && plainEqual(a[k], b[k]));
  }
  return false;
}

/**
 * Write `desired` (plain) using `raw` as the template: wherever the plain
 * form of a part of `raw` equals the matching part of `desired`, the raw
 * part is kept as is (key order, float-ness). Objects keep raw key order;
 * `renames` lets a new key take the place of a removed one (e.g. pci ↔
 * hvinfo); other new keys go where `placeNewKey` says (default: the end).
 */
export function mergeOntoRaw(
  raw: PyValue | undefined,
  desired: unknown,
  opts: {
    renames?: Record<string, string>;
    placeNewKey?: (existingKeys: string[], newKey: string) => number;
  } = {},
): PyValue {
  if (raw !== undefined && plainEqual(toPlain(raw), desired)) return raw;
  if (raw instanceof PyDict && isPlainObject(desired)) {
    const out: [string, PyValue][] = [];
    const done = new Set<string>();
    for (const [k, rv] of raw.entries()) {
      if (desired[k] !== undefined) {
        out.push([k, mergeOntoRaw(rv, desired[k])]);
        done.add(k);
        continue;
      }
      const renamed = opts.renames?.[k];
      if (renamed !== undefined && desired[renamed] !== undefined && !raw.has(renamed) && !done.has(renamed)) {
        out.push([renamed, fromPlain(desired[renamed])]);
        done.add(renamed);
      }
    }
    for (const k of Object.keys(desired)) {
      if (done.has(k) || desired[k] === undefined) continue;
      const at = opts.placeNewKey ? opts.placeNewKey(out.map(([key]) => key), k) : out.length;
      out.splice(at, 0, [k, fromPlain(desired[k])]);
      done.add(k);
    }
    return new PyDict(out);
  }
  if (Array.isArray(raw) && Array.isArray(desired) && raw.length === desired.length) {
    return raw.map((rv, i) => mergeOntoRaw(rv, desired[i]));
  }
  if (raw instanceof PyFloat && typeof desired === "number") return new PyFloat(desired);
  return fromPlain(desired);
}
