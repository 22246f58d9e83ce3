/**
 * The stub that replaces a tiered file: a small placeholder under the original name that
 * names the file's Tier-2 object.
 *
 * Layout: the line `STRATA-STUB v1`, one line of JSON (StubContent), then spaces and a
 * final line feed that pad the file to exactly STUB_SIZE_BYTES. The fixed size lets the
 * scanner recognise a stub by its lstat size and read only files of that one size.
 *
 * On Windows, act also marks each stub with FILE_ATTRIBUTE_OFFLINE (offlineMarker.ts), so
 * Explorer and backup tools treat it as a placeholder. The scanner still recognises stubs
 * by content, on Windows too, because marking may fail and other platforms have no such
 * attribute.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';

import { TIER2_KINDS, type Tier2Kind } from '../../src/tier2/tier2Store.ts';

/** First line of every stub, line feed included. */
export const STUB_MAGIC = 'STRATA-STUB v1\n';

/**
 * Size of every stub in bytes. A Tier-2 key of 1,024 bytes, the S3 and Azure maximum,
 * fits with room for JSON escapes. formatStub rejects content that would not fit.
 */
export const STUB_SIZE_BYTES = 4093;

/** FILE_ATTRIBUTE_OFFLINE: the scanner reports stubs with this bit, which the planner skips. */
export const OFFLINE_ATTRIBUTE = 0x1000;

/** Record of the replaced file that a stub carries. */
export interface StubContent {
  /** Kind of the Tier-2 target that stores the object. */
  kind: Tier2Kind;
  /** The object's key in the share's Tier-2 target. */
  key: string;
  /** Size of the original content in bytes. */
  size: number;
  /** Hex SHA-256 of the original content, verified against the Tier-2 copy before stubbing. */
  sha256: string;
  /** Original modification time, whole Unix seconds as scanned. */
  mtimeUnix: number;
  /** Original modification time in nanoseconds since the epoch, as a decimal string, for an exact restore. */
  mtimeNs: string;
}

/** A stub that cannot be built or read back. */
export class StubFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StubFormatError';
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Builds the exact bytes of a stub. Throws StubFormatError when the content does not fit. */
export function formatStub(content: StubContent): Buffer {
  const json = JSON.stringify({
    kind: content.kind,
    key: content.key,
    size: content.size,
    sha256: content.sha256,
    mtimeUnix: content.mtimeUnix,
    mtimeNs: content.mtimeNs,
  });
  const head = Buffer.from(`${STUB_MAGIC}${json}\n`, 'utf8');

  // One byte is kept for the final line feed after the padding.
  if (head.length > STUB_SIZE_BYTES - 1) {
    throw new StubFormatError(
      `Stub for Tier-2 key of ${Buffer.byteLength(content.key)} bytes needs ${head.length + 1} bytes, ` +
        `more than the stub size of ${STUB_SIZE_BYTES}; map the file to a shorter key`,
    );
  }
  const stub = Buffer.alloc(STUB_SIZE_BYTES, 0x20);
  head.copy(stub);
  stub[STUB_SIZE_BYTES - 1] = 0x0a;
  return stub;
}

/** Reads stub bytes back; returns undefined when `bytes` is not a stub of this format. */
export function parseStub(bytes: Buffer): StubContent | undefined {
  if (bytes.length !== STUB_SIZE_BYTES || !startsWithMagic(bytes)) {
    return undefined;
  }
  const end = bytes.indexOf(0x0a, STUB_MAGIC.length);
  if (end < 0) {
    return undefined;
  }

  let value: unknown;
  try {
    value = JSON.parse(bytes.subarray(STUB_MAGIC.length, end).toString('utf8'));
  } catch {
    // A file that starts like a stub but has no valid JSON line is treated as an ordinary file.
    return undefined;
  }
  return isStubContent(value) ? value : undefined;
}

/** Returns whether lstat's size alone rules a file out as a stub, so that nothing is read. */
export function mayBeStub(sizeBytes: number | bigint): boolean {
  return Number(sizeBytes) === STUB_SIZE_BYTES;
}

/**
 * Reads only the first line of a file of stub size and compares it with STUB_MAGIC. The
 * scanner uses it, so it is synchronous like the walk; an unreadable file is no stub.
 */
export function hasStubMagicSync(filePath: string | Buffer): boolean {
  const fd = openWithoutAtime(filePath);
  if (fd === undefined) {
    return false;
  }
  try {
    const head = Buffer.alloc(STUB_MAGIC.length);
    const read = readSync(fd, head, 0, head.length, 0);
    return read === head.length && startsWithMagic(head);
  } catch {
    // The file went away or cannot be read since its lstat; either way it is no stub to report.
    return false;
  } finally {
    closeSync(fd);
  }
}

/** O_NOATIME where the platform has it, so probing a user's file does not make it look recently read. */
const READ_NOATIME = constants.O_RDONLY | (constants.O_NOATIME ?? 0);

/**
 * Opens a file for reading without updating its access time where possible. Linux allows
 * O_NOATIME only to the file's owner (or root), so on EPERM it opens without it.
 * NOTE: without O_NOATIME (another owner, or Windows and macOS) reading the first line of a
 * file of exactly STUB_SIZE_BYTES may update its access time.
 */
function openWithoutAtime(filePath: string | Buffer): number | undefined {
  try {
    return openSync(filePath, READ_NOATIME);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM' || READ_NOATIME === constants.O_RDONLY) {
      return undefined;
    }
  }
  try {
    return openSync(filePath, constants.O_RDONLY);
  } catch {
    // Unreadable now (deleted, access denied): the walk reports it as an ordinary file.
    return undefined;
  }
}

function startsWithMagic(bytes: Buffer): boolean {
  return bytes.subarray(0, STUB_MAGIC.length).toString('latin1') === STUB_MAGIC;
}

function isStubContent(value: unknown): value is StubContent {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const stub = value as Record<string, unknown>;
  return (
    (TIER2_KINDS as readonly unknown[]).includes(stub.kind) &&
    typeof stub.key === 'string' &&
    stub.key !== '' &&
    Number.isSafeInteger(stub.size) &&
    (stub.size as number) >= 0 &&
    typeof stub.sha256 === 'string' &&
    SHA256_HEX.test(stub.sha256) &&
    Number.isSafeInteger(stub.mtimeUnix) &&
    typeof stub.mtimeNs === 'string' &&
    /^-?\d+$/.test(stub.mtimeNs)
  );
}
