import { isUtf8 } from 'node:buffer';

const EMPTY = Buffer.alloc(0);

/**
 * Check a byte stream for strict UTF-8 one buffer at a time, as PostgreSQL's UTF8
 * encoding does: no overlong forms, no surrogates (U+D800 to U+DFFF, which WTF-8 would
 * allow) and nothing above U+10FFFF. A character cut in two by a buffer boundary is
 * held back and checked with the next buffer.
 */
export class Utf8Validator {
  /** The first bytes of a character that the previous buffer cut off (at most 3). */
  private carry: Buffer = EMPTY;

  /**
   * Check the next buffer. Returns undefined when it is valid so far, else the first
   * invalid byte and its offset in `bytes`. The offset is 0 when the character that the
   * previous buffer cut off turns out to be invalid, because that buffer has already
   * been passed on.
   */
  check(bytes: Buffer): { offset: number; byte: number } | undefined {
    const shift = this.carry.length;
    const data = shift > 0 ? Buffer.concat([this.carry, bytes]) : bytes;
    const tail = incompleteTailLength(data);
    const whole = data.subarray(0, data.length - tail);

    // isUtf8 is Node's native validator (simdutf); the byte-by-byte search runs only on a failure.
    if (!isUtf8(whole)) {
      const invalid = Math.min(firstInvalidOffset(whole), whole.length - 1);
      return { offset: Math.max(invalid - shift, 0), byte: whole[invalid]! };
    }

    this.carry = tail > 0 ? Buffer.from(data.subarray(data.length - tail)) : EMPTY;
    return undefined;
  }

  /** True when the stream ended inside a character. */
  endsInsideCharacter(): boolean {
    return this.carry.length > 0;
  }
}

/** Length of a multi-byte character at the end of `bytes` that is still missing bytes (0 to 3). */
function incompleteTailLength(bytes: Buffer): number {
  const length = bytes.length;
  for (let back = 1; back <= Math.min(3, length); back++) {
    const byte = bytes[length - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const needed = sequenceLength(byte);
    return needed > back ? back : 0;
  }
  return 0;
}

/** Bytes of the sequence a lead byte starts; 1 for ASCII and for bytes that cannot start one. */
function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 1;
}

/**
 * Offset of the first byte that starts an invalid or truncated sequence, following
 * the well-formed byte sequences of the Unicode Standard, table 3-7. Returns
 * `bytes.length` when there is none.
 */
export function firstInvalidOffset(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const length = sequenceLength(lead);
    if (length === 1 || i + length > bytes.length) return i;

    // The second byte's range depends on the lead byte: it rules out overlong forms,
    // surrogates and code points above U+10FFFF.
    let low = 0x80;
    let high = 0xbf;
    if (lead === 0xe0) low = 0xa0;
    else if (lead === 0xed) high = 0x9f;
    else if (lead === 0xf0) low = 0x90;
    else if (lead === 0xf4) high = 0x8f;

    const second = bytes[i + 1]!;
    if (second < low || second > high) return i;
    for (let k = 2; k < length; k++) {
      if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    }
    i += length;
  }
  return bytes.length;
}
