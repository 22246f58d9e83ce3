/**
 * WTF-8: UTF-8 extended to carry unpaired UTF-16 surrogates, the form in which libuv
 * passes Windows names that are not valid Unicode (`a` followed by U+D800 is the bytes
 * `61 ED A0 80`). Node's UTF-8 decoder turns such bytes into U+FFFD, so the agent decodes
 * them here when it must hand the exact UTF-16 name to another program.
 */

/** A byte sequence that is not WTF-8. */
export class InvalidWtf8Error extends Error {
  constructor(offset: number) {
    super(`Invalid WTF-8: no valid sequence starts at byte ${offset}`);
    this.name = 'InvalidWtf8Error';
  }
}

/**
 * Decodes WTF-8 bytes into a string whose UTF-16 code units are the name's, unpaired
 * surrogates included. Throws InvalidWtf8Error on any other invalid byte, because a
 * guessed replacement would name another file.
 */
export function decodeWtf8(bytes: Uint8Array): string {
  const units: number[] = [];
  let index = 0;
  while (index < bytes.length) {
    const length = wtf8SequenceLength(bytes, index);
    if (length === 0) {
      throw new InvalidWtf8Error(index);
    }

    const codePoint = decodeSequence(bytes, index, length);
    if (codePoint > 0xffff) {
      const offset = codePoint - 0x10000;
      units.push(0xd800 + (offset >> 10), 0xdc00 + (offset & 0x3ff));
    } else {
      units.push(codePoint);
    }
    index += length;
  }
  return String.fromCharCode(...units);
}

/**
 * Returns the length of the WTF-8 sequence at `index`, or 0 when none starts there. The
 * ranges are UTF-8's (the Unicode Standard, table 3-7), except that a lead byte ED may
 * be followed by A0..BF, which encode the surrogates U+D800..U+DFFF that WTF-8 adds.
 */
function wtf8SequenceLength(bytes: Uint8Array, index: number): number {
  const first = bytes[index]!;
  if (first <= 0x7f) return 1;

  let length: number;
  let secondMin = 0x80;
  let secondMax = 0xbf;
  if (first >= 0xc2 && first <= 0xdf) {
    length = 2;
  } else if (first >= 0xe0 && first <= 0xef) {
    length = 3;
    if (first === 0xe0) secondMin = 0xa0;
  } else if (first >= 0xf0 && first <= 0xf4) {
    length = 4;
    if (first === 0xf0) secondMin = 0x90;
    if (first === 0xf4) secondMax = 0x8f;
  } else {
    return 0;
  }

  if (index + length > bytes.length) return 0;
  const second = bytes[index + 1]!;
  if (second < secondMin || second > secondMax) return 0;
  for (let next = index + 2; next < index + length; next++) {
    const byte = bytes[next]!;
    if (byte < 0x80 || byte > 0xbf) return 0;
  }
  return length;
}

/** Returns the code point of a sequence that wtf8SequenceLength accepted. */
function decodeSequence(bytes: Uint8Array, index: number, length: number): number {
  if (length === 1) return bytes[index]!;

  const leadBits = [0, 0, 0x1f, 0x0f, 0x07][length]!;
  let codePoint = bytes[index]! & leadBits;
  for (let next = index + 1; next < index + length; next++) {
    codePoint = (codePoint << 6) | (bytes[next]! & 0x3f);
  }
  return codePoint;
}
