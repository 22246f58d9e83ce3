/**
 * Escaped names: how the agent sends a file or folder name whose bytes are not valid
 * UTF-8, losslessly and distinct from every real name.
 *
 * An escaped segment starts with `/`, which no real name on any platform can contain.
 * The rest is the segment's bytes. Every byte that is not part of a valid UTF-8
 * sequence, and every `%`, is written as `%XX` (uppercase hex), and valid UTF-8
 * sequences stay as they are. Bytes `61 ED A0 80` (on Windows the WTF-8 form of "a"
 * followed by the unpaired surrogate U+D800) are sent as the name `/a%ED%A0%80`.
 *
 * In a folder path the escaped segment takes the place of the raw one: the POSIX folder
 * `/data/<63 61 66 E9>/sub` is sent as `/data//caf%E9/sub` (the empty segment before
 * `/caf%E9` is the marker), the Windows folder segment as `C:\data\/caf%E9\sub`.
 * This module has no dependencies, so the agent and the server can both use it.
 */
import type { PathStyle } from './contract.ts';

/** First character of every escaped name. */
export const ESCAPE_MARKER = '/';

const PERCENT = 0x25;
const SLASH = 0x2f;
const HEX_DIGITS = '0123456789ABCDEF';
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** An escaped name that does not decode, or does not decode to the bytes it came from. */
export class InvalidEscapedNameError extends Error {
  constructor(text: string, reason: string) {
    super(`Invalid escaped name ${JSON.stringify(text)}: ${reason}`);
    this.name = 'InvalidEscapedNameError';
  }
}

/**
 * Returns the length of the well-formed UTF-8 sequence starting at `index` (1 to 4), or
 * 0 when the byte there does not start one. The ranges are those of the Unicode
 * Standard, table 3-7: no overlong forms, no surrogates (ED A0..BF) unless
 * `allowSurrogates` (WTF-8), nothing above U+10FFFF.
 */
export function utf8SequenceLength(bytes: Uint8Array, index: number, allowSurrogates = false): number {
  const first = bytes[index]!;
  if (first <= 0x7f) {
    return 1;
  }

  let length: number;
  let secondMin = 0x80;
  let secondMax = 0xbf;
  if (first >= 0xc2 && first <= 0xdf) {
    length = 2;
  } else if (first >= 0xe0 && first <= 0xef) {
    length = 3;
    if (first === 0xe0) {
      secondMin = 0xa0;
    } else if (first === 0xed && !allowSurrogates) {
      secondMax = 0x9f;
    }
  } else if (first >= 0xf0 && first <= 0xf4) {
    length = 4;
    if (first === 0xf0) {
      secondMin = 0x90;
    } else if (first === 0xf4) {
      secondMax = 0x8f;
    }
  } else {
    return 0;
  }

  if (index + length > bytes.length) {
    return 0;
  }
  const second = bytes[index + 1]!;
  if (second < secondMin || second > secondMax) {
    return 0;
  }
  for (let next = index + 2; next < index + length; next++) {
    const byte = bytes[next]!;
    if (byte < 0x80 || byte > 0xbf) {
      return 0;
    }
  }
  return length;
}

/** Returns whether `bytes` is well-formed UTF-8 as a whole. */
export function isWellFormedUtf8(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; ) {
    const length = utf8SequenceLength(bytes, index);
    if (length === 0) {
      return false;
    }
    index += length;
  }
  return true;
}

/** Writes `bytes` in the escaped form, whether or not they are valid UTF-8. */
export function escapeNameBytes(bytes: Uint8Array): string {
  let text = ESCAPE_MARKER;
  let index = 0;
  while (index < bytes.length) {
    const length = utf8SequenceLength(bytes, index);
    const byte = bytes[index]!;
    if (length === 0 || byte === PERCENT) {
      text += `%${HEX_DIGITS[byte >> 4]}${HEX_DIGITS[byte & 0x0f]}`;
      index++;
      continue;
    }

    // Copy the longest run of valid sequences without `%` in one decode.
    let end = index + length;
    while (end < bytes.length && bytes[end] !== PERCENT) {
      const nextLength = utf8SequenceLength(bytes, end);
      if (nextLength === 0) {
        break;
      }
      end += nextLength;
    }
    text += utf8Decoder.decode(bytes.subarray(index, end));
    index = end;
  }
  return text;
}

/**
 * Returns the name to send for the bytes of one file or folder name: the UTF-8 text
 * itself when the bytes are valid UTF-8, else the escaped form. Bytes starting with `/`
 * are escaped too: no file system returns such a name, but a plain one would be read
 * back as an escaped form.
 */
export function encodeNameBytes(bytes: Uint8Array): { name: string; escaped: boolean } {
  if (bytes[0] !== SLASH && isWellFormedUtf8(bytes)) {
    return { name: utf8Decoder.decode(bytes), escaped: false };
  }
  return { name: escapeNameBytes(bytes), escaped: true };
}

/** Returns whether a name received on the wire is in the escaped form. */
export function isEscapedName(name: string): boolean {
  return name.startsWith(ESCAPE_MARKER);
}

/**
 * Returns the original bytes of a name as sent on the wire: the UTF-8 bytes of a plain
 * name, or the decoded bytes of an escaped one. Throws InvalidEscapedNameError for an
 * escaped name that escapeNameBytes could not have produced, so that every accepted
 * name maps back to exactly one byte string.
 */
export function decodeName(name: string): Uint8Array {
  if (!isEscapedName(name)) {
    return utf8Encoder.encode(name);
  }

  const bytes: number[] = [];
  for (let index = ESCAPE_MARKER.length; index < name.length; ) {
    if (name[index] === '%') {
      const high = HEX_DIGITS.indexOf(name[index + 1] ?? '');
      const low = HEX_DIGITS.indexOf(name[index + 2] ?? '');
      if (high === -1 || low === -1) {
        throw new InvalidEscapedNameError(name, `"%" at offset ${index} is not followed by two uppercase hex digits`);
      }
      bytes.push((high << 4) | low);
      index += 3;
      continue;
    }

    const codePoint = name.codePointAt(index)!;
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) {
      throw new InvalidEscapedNameError(name, `unpaired surrogate at offset ${index}; raw bytes must be written as %XX`);
    }
    const character = String.fromCodePoint(codePoint);
    bytes.push(...utf8Encoder.encode(character));
    index += character.length;
  }

  // Only the canonical form is accepted: "%41" for "A", or a raw sequence that escaping
  // would have written as %XX, would give a second spelling of the same bytes.
  const decoded = Uint8Array.from(bytes);
  if (escapeNameBytes(decoded) !== name) {
    throw new InvalidEscapedNameError(name, 'not in canonical form: only "%" and bytes outside valid UTF-8 sequences may be written as %XX');
  }
  return decoded;
}

/** Returns `parent` joined with one more segment, in the given path style. */
export function joinWirePath(parent: string, segment: string, style: PathStyle): string {
  const separator = style === 'windows' ? '\\' : '/';
  return parent.endsWith(separator) ? `${parent}${segment}` : `${parent}${separator}${segment}`;
}

/**
 * Returns the bytes of the native folder path that a wire folder path stands for: UTF-8,
 * or WTF-8 for a Windows path with unpaired surrogates. The inverse of building the
 * path with joinWirePath from escaped and plain segments.
 */
export function decodeWireDirPath(dirPath: string, style: PathStyle): Uint8Array {
  const segments = decodeWireDirSegments(dirPath, style);
  if (style === 'windows') {
    return concatWithSeparator(segments, 0x5c);
  }
  return segments.length === 0 ? utf8Encoder.encode('/') : concatWithSeparator([new Uint8Array(0), ...segments], 0x2f);
}

/**
 * Returns the native bytes of each segment of a wire folder path. A Windows path keeps
 * every segment as split at `\` (a drive `C:`, or the two empty segments before a UNC
 * server). A POSIX path gives the segments after the root, none for `/`.
 */
export function decodeWireDirSegments(dirPath: string, style: PathStyle): Uint8Array[] {
  if (style === 'windows') {
    // A Windows separator is `\`, so an escaped segment is simply one that starts with `/`.
    return dirPath.split('\\').map((segment) => decodeName(segment));
  }

  if (!dirPath.startsWith('/')) {
    throw new InvalidEscapedNameError(dirPath, 'a POSIX folder path must start with "/"');
  }
  if (dirPath === '/') {
    return [];
  }

  // After the root, an empty segment marks that the next segment is escaped, because the
  // escaped segment's own leading `/` is also the separator.
  const raw = dirPath.slice(1).split('/');
  const parts: Uint8Array[] = [];
  for (let index = 0; index < raw.length; index++) {
    const segment = raw[index]!;
    if (segment !== '') {
      parts.push(decodeName(segment));
      continue;
    }
    const escaped = raw[index + 1];
    if (escaped === undefined || escaped === '') {
      throw new InvalidEscapedNameError(dirPath, 'an empty segment must be followed by an escaped segment');
    }
    parts.push(decodeName(`${ESCAPE_MARKER}${escaped}`));
    index++;
  }
  return parts;
}

function concatWithSeparator(parts: Uint8Array[], separator: number): Uint8Array {
  const length = parts.reduce((sum, part) => sum + part.length, 0) + parts.length - 1;
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const [index, part] of parts.entries()) {
    if (index > 0) {
      joined[offset++] = separator;
    }
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
