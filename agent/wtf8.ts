/**
 * WTF-8: UTF-8 extended to carry unpaired UTF-16 surrogates, the form in which libuv
 * passes Windows names that are not valid Unicode (`a` followed by U+D800 is the bytes
 * `61 ED A0 80`). Node's UTF-8 decoder turns such bytes into U+FFFD, so the agent decodes
 * them here when it must hand the exact UTF-16 name to another program.
 */
import { utf8SequenceLength } from '../src/wire/escapedName.ts';

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
    // WTF-8 is UTF-8 that also allows the surrogates U+D800..U+DFFF (lead byte ED, then A0..BF).
    const length = utf8SequenceLength(bytes, index, true);
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

/** Returns the code point of a sequence that utf8SequenceLength accepted. */
function decodeSequence(bytes: Uint8Array, index: number, length: number): number {
  if (length === 1) return bytes[index]!;

  const leadBits = [0, 0, 0x1f, 0x0f, 0x07][length]!;
  let codePoint = bytes[index]! & leadBits;
  for (let next = index + 1; next < index + length; next++) {
    codePoint = (codePoint << 6) | (bytes[next]! & 0x3f);
  }
  return codePoint;
}
