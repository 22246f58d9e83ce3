/**
 * Tier-2 keys of source files. One file (share, canonical folder path, name) maps to one
 * key, and distinct files map to distinct keys, compared as bytes, on every kind of
 * target: S3, Azure Blob, and a folder on a case-insensitive SMB share.
 *
 * A key is `<share>/<root>/<folder segments>/<name>`, each part written with the
 * segment encoding below. The root is `!posix` for a POSIX path, `!unc` for a Windows
 * UNC path (then the server and share segments follow), and nothing for a Windows drive
 * path, whose first segment is the drive (`C:` is written `^c!3a`).
 *
 * Segment encoding, applied to the name's native bytes (WTF-8 for Windows names with
 * unpaired surrogates, raw bytes for POSIX names that are not UTF-8):
 * - `a-z`, `0-9`, space and `-_.,()&@=;$'` stay as they are;
 * - an uppercase ASCII letter is `^` and the letter in lowercase (`R` is `^r`);
 * - a non-ASCII character stays as it is when it is a letter, number, punctuation or
 *   symbol that has no case and no other normalised form (CJK ideographs, `€`, `–`);
 * - every other byte is `!` and two lowercase hex digits: `%`, `+`, `!`, `^`, `~`,
 *   `<>:"/\|?*#`, control characters, accented letters (in NFC and NFD alike),
 *   combining marks, bytes outside valid UTF-8;
 * - a trailing dot or space and a leading space are written as `!2e` and `!20`, and the
 *   first character of a Windows device name (`nul.tar.gz`, `con`, `com1`) as hex.
 *
 * So a key contains no uppercase letter, no character that changes under Unicode
 * normalisation or case folding, and no `+` or `%`. Folding the case of keys,
 * normalising them, or URL-encoding and form-decoding them, makes no two keys equal.
 * Segments never end with a dot or space, never name a Windows device, and `~` never
 * appears, so no key can match a Windows 8.3 short name such as `REPORT~1.PDF`.
 *
 * Some keys are longer than a target allows: over 1,024 bytes with the store prefix, a
 * segment over 255 bytes, or over 250 segments. Such a key is replaced by its hashed
 * form `<share>/!long/<h2>/<sha256>-<tail>`, which contains the SHA-256 of the full key and
 * the end of the encoded name for people to read. The caller keeps the full key in the
 * database and passes it to the store (`PutOptions.fullKey`), which keeps it with the
 * object where it fits. `parseTier2Key` returns only the digest for such keys.
 */
import { createHash } from 'node:crypto';
import { canonicalFolder, folderPathProblem, type PathStyle } from '../ingest/folderPaths.ts';
import { normalizeStorePrefix } from '../tier2/objectKeys.ts';
import type { TargetConfig } from '../tier2/targetConfig.ts';
import { decodeName, decodeWireDirSegments, encodeNameBytes, joinWirePath, utf8SequenceLength } from '../wire/escapedName.ts';

/** One source file as the database stores it. */
export interface SourceFile {
  shareName: string;
  pathStyle: PathStyle;
  /** The folder path as sent by the agent; the Win32 long-path prefix is folded here. */
  dirPath: string;
  /** The file name as sent by the agent, escaped when its bytes are not valid UTF-8. */
  name: string;
}

export interface Tier2KeyOptions {
  /** Maximum key length in UTF-8 bytes, not counting the store's own prefix (default 1,024, the S3 limit). */
  maxKeyBytes?: number;
}

/** A file's Tier-2 key. */
export interface MappedKey {
  /** The key to store the object under. */
  key: string;
  /** The full, reversible key; equal to `key` unless that was too long. */
  fullKey: string;
  hashed: boolean;
}

/** A key parsed back into the file it stands for. */
export type ParsedKey =
  | ({ kind: 'path' } & SourceFile)
  | { kind: 'hashed'; shareName: string | null; sha256: string };

/** A file whose path or name cannot be mapped (not valid for its path style). */
export class UnmappableFileError extends Error {
  override name = 'UnmappableFileError';
  readonly code = 'TIER2_UNMAPPABLE_FILE';
}

/** A string that no mapping produced. */
export class InvalidMappedKeyError extends Error {
  override name = 'InvalidMappedKeyError';
  readonly code = 'TIER2_INVALID_MAPPED_KEY';

  constructor(key: string, reason: string) {
    super(`${JSON.stringify(key)} is not a Tier-2 key of a source file: ${reason}`);
  }
}

const MAX_KEY_BYTES = 1024;
/** NTFS and ext4 allow 255 per name (UTF-16 units and bytes); an encoded segment is ASCII or uses at least as many bytes as units. */
const MAX_SEGMENT_BYTES = 255;
/** Azure allows 254 segments; four are left for a store prefix. */
const MAX_SEGMENTS = 250;
/** Bytes of the encoded name kept after the digest of a hashed key. */
const HASHED_TAIL_BYTES = 100;

const POSIX_ROOT = '!posix';
const UNC_ROOT = '!unc';
const HASHED_ROOT = '!long';
const HASHED_SHARE = '!share-';

const LITERAL_ASCII = /^[a-z0-9 \-_.,()&@=;$']$/;
const RESERVED_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$|clock\$)$/;
const HEX = '0123456789abcdef';

/** Return the Tier-2 key of a source file. */
export function tier2KeyFor(file: SourceFile, options: Tier2KeyOptions = {}): MappedKey {
  const maxKeyBytes = options.maxKeyBytes ?? MAX_KEY_BYTES;
  const share = shareSegment(file.shareName);
  const segments = [share, ...rootAndFolderSegments(file), encodeSegment(nameBytes(file))];
  const fullKey = segments.join('/');

  const fits =
    Buffer.byteLength(fullKey, 'utf8') <= maxKeyBytes &&
    segments.length <= MAX_SEGMENTS &&
    segments.every((segment) => Buffer.byteLength(segment, 'utf8') <= MAX_SEGMENT_BYTES);
  if (fits) return { key: fullKey, fullKey, hashed: false };

  const key = hashedKey(share, fullKey, segments[segments.length - 1]!);
  if (Buffer.byteLength(key, 'utf8') > maxKeyBytes) {
    throw new UnmappableFileError(`even the hashed Tier-2 key of ${JSON.stringify(file.name)} is longer than ${maxKeyBytes} bytes; shorten the target's prefix`);
  }
  return { key, fullKey, hashed: true };
}

/**
 * Return the mapping options for a target: the 1,024-byte key limit less its prefix.
 * Filesystem targets get the same limit, so that keys stay valid if a share's objects
 * move to S3 or Azure later.
 */
export function tier2KeyOptionsFor(config: TargetConfig): Tier2KeyOptions {
  const prefix = config.kind === 'fs' ? '' : normalizeStorePrefix(config.prefix);
  return { maxKeyBytes: MAX_KEY_BYTES - Buffer.byteLength(prefix, 'utf8') };
}

/** Return the key prefix every object of a share starts with (the share segment and `/`). */
export function tier2SharePrefix(shareName: string): string {
  return `${shareSegment(shareName)}/`;
}

/**
 * Parse a key made by `tier2KeyFor` back into its file, or its digest when it was hashed.
 * Throws InvalidMappedKeyError for any string that `tier2KeyFor` could not have made.
 */
export function parseTier2Key(key: string): ParsedKey {
  const parsed = parseKeyParts(key);
  if (parsed.kind === 'path' && tier2KeyFor(parsed, { maxKeyBytes: Infinity }).fullKey !== key) {
    throw new InvalidMappedKeyError(key, 'not in canonical form');
  }
  return parsed;
}

function parseKeyParts(key: string): ParsedKey {
  const segments = key.split('/');
  if (segments.length < 2) throw new InvalidMappedKeyError(key, 'it has no share segment');
  const shareName = segments[0]!.startsWith(HASHED_SHARE) ? null : textOf(decodeSegment(segments[0]!), key);

  if (segments[1] === HASHED_ROOT) {
    const digest = /^([0-9a-f]{64})(?:-|$)/.exec(segments[3] ?? '')?.[1];
    if (segments.length !== 4 || !digest || segments[2] !== digest.slice(0, 2)) throw new InvalidMappedKeyError(key, 'a hashed key is <share>/!long/<h2>/<sha256>-<tail>');
    return { kind: 'hashed', shareName, sha256: digest };
  }
  if (shareName === null) throw new InvalidMappedKeyError(key, 'a hashed share segment needs a hashed key');
  if (segments.length < 3) throw new InvalidMappedKeyError(key, 'it has no name segment');

  const name = wireName(decodeSegment(segments[segments.length - 1]!));
  const folder = segments.slice(1, -1);
  if (folder[0] === POSIX_ROOT) {
    const dirPath = folder.slice(1).reduce((path, segment) => joinWirePath(path, wireName(decodeSegment(segment)), 'posix'), '/');
    return { kind: 'path', shareName, pathStyle: 'posix', dirPath, name };
  }
  if (folder[0] === UNC_ROOT) {
    const dirPath = `\\\\${folder.slice(1).map((segment) => wireName(decodeSegment(segment))).join('\\')}`;
    return { kind: 'path', shareName, pathStyle: 'windows', dirPath, name };
  }
  const parts = folder.map((segment) => wireName(decodeSegment(segment)));
  const dirPath = parts.length === 1 ? `${parts[0]}\\` : parts.join('\\');
  return { kind: 'path', shareName, pathStyle: 'windows', dirPath, name };
}

/** Write one segment's bytes in the key encoding. */
export function encodeSegment(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new UnmappableFileError('an empty name or folder segment has no Tier-2 key');
  const tokens = segmentTokens(bytes);

  const last = tokens.length - 1;
  if (tokens[last] === '.' || tokens[last] === ' ') tokens[last] = hexByte(tokens[last]!.charCodeAt(0));
  if (tokens[0] === ' ') tokens[0] = hexByte(0x20);

  // Windows opens a device for these names whatever follows the first dot, and ignores
  // spaces before that dot. Tokens are lowercase, so `CON` (`^con`) is never one.
  const base = tokens.join('').split('.')[0]!.replace(/ +$/, '');
  if (RESERVED_DEVICE.test(base)) tokens[0] = hexByte(tokens[0]!.charCodeAt(0));
  return tokens.join('');
}

/** Decode one encoded segment to its bytes; only the canonical spelling is accepted. */
export function decodeSegment(segment: string): Uint8Array {
  const bytes: number[] = [];
  for (let index = 0; index < segment.length; ) {
    const character = segment[index]!;
    if (character === '!') {
      const value = /^[0-9a-f]{2}$/.test(segment.slice(index + 1, index + 3)) ? parseInt(segment.slice(index + 1, index + 3), 16) : NaN;
      if (Number.isNaN(value)) throw new InvalidMappedKeyError(segment, `"!" at offset ${index} is not followed by two lowercase hex digits`);
      bytes.push(value);
      index += 3;
    } else if (character === '^') {
      const letter = segment[index + 1] ?? '';
      if (!/^[a-z]$/.test(letter)) throw new InvalidMappedKeyError(segment, `"^" at offset ${index} is not followed by a lowercase letter`);
      bytes.push(letter.toUpperCase().charCodeAt(0));
      index += 2;
    } else {
      const codePoint = segment.codePointAt(index)!;
      const text = String.fromCodePoint(codePoint);
      bytes.push(...Buffer.from(text, 'utf8'));
      index += text.length;
    }
  }

  const decoded = Uint8Array.from(bytes);
  if (decoded.length === 0 || encodeSegment(decoded) !== segment) throw new InvalidMappedKeyError(segment, 'not in canonical form');
  return decoded;
}

function segmentTokens(bytes: Uint8Array): string[] {
  const tokens: string[] = [];
  for (let index = 0; index < bytes.length; ) {
    const length = utf8SequenceLength(bytes, index);
    if (length === 0) {
      tokens.push(hexByte(bytes[index]!));
      index++;
      continue;
    }

    const character = Buffer.from(bytes.subarray(index, index + length)).toString('utf8');
    if (length === 1 && LITERAL_ASCII.test(character)) tokens.push(character);
    else if (length === 1 && character >= 'A' && character <= 'Z') tokens.push(`^${character.toLowerCase()}`);
    else if (length > 1 && isStableCharacter(character)) tokens.push(character);
    else for (let offset = 0; offset < length; offset++) tokens.push(hexByte(bytes[index + offset]!));
    index += length;
  }
  return tokens;
}

/**
 * Return whether a non-ASCII character can stay as it is: a letter, number, punctuation or
 * symbol with no case and no decomposition, so neither case folding nor normalisation
 * by the target can turn it into another character of a key.
 */
function isStableCharacter(character: string): boolean {
  return (
    /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(character) &&
    character.toLowerCase() === character &&
    character.toUpperCase() === character &&
    character.normalize('NFD') === character &&
    character.normalize('NFKC') === character
  );
}

function hexByte(byte: number): string {
  return `!${HEX[byte >> 4]}${HEX[byte & 0x0f]}`;
}

function shareSegment(shareName: string): string {
  const encoded = encodeSegment(Buffer.from(shareName, 'utf8'));
  if (Buffer.byteLength(encoded, 'utf8') <= MAX_SEGMENT_BYTES) return encoded;
  return `${HASHED_SHARE}${createHash('sha256').update(shareName, 'utf8').digest('hex')}`;
}

/** Return the root token and the encoded folder segments of a file's canonical folder path. */
function rootAndFolderSegments(file: SourceFile): string[] {
  const dirPath = file.pathStyle === 'windows' ? canonicalFolder(file.dirPath) : file.dirPath;
  const problem = folderPathProblem(dirPath, file.pathStyle);
  if (problem) throw new UnmappableFileError(`folder ${JSON.stringify(dirPath)} has no Tier-2 key: ${problem}`);

  const segments = decodeSegments(dirPath, file.pathStyle);
  if (file.pathStyle === 'posix') return [POSIX_ROOT, ...segments.map(encodeSegment)];
  if (dirPath.startsWith('\\\\')) return [UNC_ROOT, ...segments.slice(2).map(encodeSegment)];
  // A drive root `C:\` splits into `C:` and an empty segment.
  return segments.filter((segment, index) => index === 0 || segment.length > 0).map(encodeSegment);
}

function decodeSegments(dirPath: string, style: PathStyle): Uint8Array[] {
  try {
    return decodeWireDirSegments(dirPath, style);
  } catch (error) {
    throw new UnmappableFileError(`folder ${JSON.stringify(dirPath)} has no Tier-2 key: ${(error as Error).message}`, { cause: error });
  }
}

function nameBytes(file: SourceFile): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = decodeName(file.name);
  } catch (error) {
    throw new UnmappableFileError(`name ${JSON.stringify(file.name)} has no Tier-2 key: ${(error as Error).message}`, { cause: error });
  }
  const separator = file.pathStyle === 'windows' ? /[\\/]/ : /\//;
  if (file.name === '' || file.name === '.' || file.name === '..' || separator.test(Buffer.from(bytes).toString('latin1'))) {
    throw new UnmappableFileError(`name ${JSON.stringify(file.name)} has no Tier-2 key: it must be one path segment`);
  }
  return bytes;
}

function hashedKey(share: string, fullKey: string, encodedName: string): string {
  const digest = createHash('sha256').update(fullKey, 'utf8').digest('hex');
  const tokens = encodedName.match(/![0-9a-f]{2}|\^[a-z]|[\s\S]/gu) ?? [];
  let tail = '';
  for (let index = tokens.length - 1; index >= 0; index--) {
    if (Buffer.byteLength(tokens[index]! + tail, 'utf8') > HASHED_TAIL_BYTES) break;
    tail = tokens[index]! + tail;
  }
  tail = tail.replace(/^ +/, '');
  return `${share}/${HASHED_ROOT}/${digest.slice(0, 2)}/${digest}${tail ? `-${tail}` : ''}`;
}

function textOf(bytes: Uint8Array, key: string): string {
  const text = Buffer.from(bytes).toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(Buffer.from(bytes))) throw new InvalidMappedKeyError(key, 'the share segment is not UTF-8');
  return text;
}

/** Return the name the agent sends for these native bytes. */
function wireName(bytes: Uint8Array): string {
  return encodeNameBytes(bytes).name;
}
