/**
 * A runtime file's bytes as text, exactly or not at all. Ganeti writes ASCII
 * JSON (Python's json escapes everything else), so bytes that are not UTF-8
 * mean a file Ganeti did not write; decoding them with U+FFFD and writing
 * the result back would silently change them.
 */
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text, or the offset of the first byte that is not UTF-8. */
export function decodeRuntimeBytes(bytes: Uint8Array): { ok: true; text: string } | { ok: false; offset: number } {
  try {
    return { ok: true, text: strict.decode(bytes) };
  } catch {
    return { ok: false, offset: firstInvalidUtf8(bytes) };
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    const d1 = b[i + 1] as number;
    if ((c === 0xe0 && d1 < 0xa0) || (c === 0xed && d1 > 0x9f) || (c === 0xf0 && d1 < 0x90) || (c === 0xf4 && d1 > 0x8f)) return i;
    i += n + 1;
  }
  return b.length;
}
