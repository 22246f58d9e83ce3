/**
 * Names of directory entries as the agent sends them. Names that are valid UTF-8 are
 * sent as they are. Any other name is sent in the escaped form defined in
 * src/wire/escapedName.ts, a module the server can import too, so both sides share one
 * encoder and one inverse.
 */
import { isUtf8 } from 'node:buffer';

import { escapeNameBytes } from '../src/wire/escapedName.ts';

export {
  decodeName,
  decodeWireDirPath,
  encodeNameBytes,
  escapeNameBytes,
  InvalidEscapedNameError,
  isEscapedName,
  joinWirePath,
} from '../src/wire/escapedName.ts';

const SLASH = 0x2f;

/** One directory entry's name: the text sent on the wire and, when escaped, the raw bytes. */
export interface EntryName {
  /** The name as sent: the UTF-8 text, or the escaped form starting with `/`. */
  wire: string;
  /** The bytes the file system returned, set only when the name had to be escaped. */
  raw: Buffer | undefined;
}

/**
 * Converts a name from a directory listing. A string name is already valid Unicode. A
 * Buffer name, from a listing read with `encoding: 'buffer'`, is escaped when it is not
 * valid UTF-8. On Windows, libuv returns names as WTF-8, so an unpaired
 * surrogate arrives as bytes such as ED A0 80 and is escaped as well.
 */
export function readEntryName(name: string | Buffer): EntryName {
  if (typeof name === 'string') {
    return { wire: name, raw: undefined };
  }
  // A leading `/` cannot occur in a listed name; it is checked so that the result
  // always matches encodeNameBytes.
  if (name[0] !== SLASH && isUtf8(name)) {
    return { wire: name.toString('utf8'), raw: undefined };
  }
  return { wire: escapeNameBytes(name), raw: name };
}
