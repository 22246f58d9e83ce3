/**
 * Turning a file into its stub in place: the stub's bytes are written over the start of
 * the very file, which is then cut to the stub's size.
 *
 * Why in place: the file keeps its inode, so its owner, mode, ACLs, extended attributes
 * and file id stay as they were, without a chown that only root may do. It also creates
 * and frees no inode. A new stub renamed over the original did both for every file. On
 * ext4 without a journal, each create then skips the inodes freed in the last seconds
 * (`recently_deleted`, seen in a kernel profile of the act benchmark), so the cost per
 * file grew with the files tiered before it. Measured in docs/benchmarks.md.
 *
 * Crash safety: the caller has verified the Tier-2 copy before this runs. The stub is
 * written with one write at offset 0, then the file is cut. A process killed between the
 * two leaves a complete stub followed by the rest of the original: an interrupted stub,
 * which interruptedStub.ts recognises and completes on the next claim. A file no larger
 * than the stub is a complete stub after the write alone.
 *
 * A write that fails part way (a full disk, a file-size limit) would leave neither stub
 * nor original, so the original's first bytes are read before it, and written back with
 * the original size and times when it fails. On most filesystems they fit in the blocks
 * they came from, so writing them back needs no new space.
 * NOTE: on a copy-on-write filesystem (Btrfs, ZFS), or where the file's start is a hole,
 * writing them back needs space too, and on a full disk it can fail as well.
 *
 * NOTE: a power loss during the write may, on a disk that tears a 4 KiB write, leave a
 * first block that is neither stub nor original. The verified Tier-2 copy and the claim
 * in the database still name the content, but the agent reports such a file STALE.
 */
import { closeSync, constants, fstatSync, fsync, ftruncate, ftruncateSync, futimesSync, openSync, readSync, writeSync, type BigIntStats } from 'node:fs';

import { unchangedSince } from './fileState.ts';

/** O_NOFOLLOW and O_NONBLOCK as in safeOpen.ts: a link or FIFO put in the file's place is not followed or waited on. */
export const WRITE_IN_PLACE = constants.O_RDWR | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Open errors after which the stub is written by rename instead. The agent may not write
 * to the file (read-only), or it is a running program. On Windows, EBUSY means another
 * process has it open without sharing writes.
 */
export const NOT_WRITABLE_CODES = new Set(['EACCES', 'EPERM', 'ETXTBSY', 'EBUSY']);

/** Result of writeStubInPlace. */
export type InPlaceOutcome = 'written' | 'not-writable' | 'changed';

/** Reasons openIfUnchanged opens nothing. */
export type NotOpened = 'not-writable' | 'changed';

/** Access and modification times for a stub, in nanoseconds since the epoch. */
export interface StubTimes {
  atimeNs: bigint;
  mtimeNs: bigint;
}

/**
 * Writes `content` over the file at `filePath` when it is still the file `original`
 * describes, cuts it to the stub's size, gives it `times` and flushes it. Returns
 * 'changed' without writing when the file differs from `original`, and 'not-writable'
 * when the agent may not open it for writing.
 */
export async function writeStubInPlace(
  filePath: string | Buffer,
  original: BigIntStats,
  content: Buffer,
  times: StubTimes,
  afterWrite: () => void = () => undefined,
): Promise<InPlaceOutcome> {
  const fd = openIfUnchanged(filePath, original, WRITE_IN_PLACE);
  if (typeof fd !== 'number') return fd;

  try {
    const head = readAtStart(fd, Number(original.size < BigInt(content.length) ? original.size : BigInt(content.length)));
    try {
      writeAtStart(fd, content);
    } catch (error) {
      restoreOriginal(fd, head, original);
      throw error;
    }
    afterWrite();
    if (original.size > BigInt(content.length)) await ftruncateAsync(fd, content.length);
    futimesSync(fd, nanosecondsToSeconds(times.atimeNs), nanosecondsToSeconds(times.mtimeNs));
    await fsyncAsync(fd);
    return 'written';
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens the file at `filePath` with `flags` when it is still the file `seen` describes.
 * The check is on the open descriptor, so a file swapped in after it is never written.
 * Returns 'changed' when another file or none has the path, and 'not-writable' when the
 * agent may not open it so.
 */
export function openIfUnchanged(filePath: string | Buffer, seen: BigIntStats, flags: number): number | NotOpened {
  let fd: number;
  try {
    fd = openSync(filePath, flags);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (NOT_WRITABLE_CODES.has(code)) return 'not-writable';
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'ENOENT') return 'changed';
    throw error;
  }
  if (unchangedSince(seen, fstatSync(fd, { bigint: true }))) return fd;

  closeSync(fd);
  return 'changed';
}

/**
 * Puts back what a failed stub write overwrote: the original's first bytes, its size and
 * its times. NOTE: should this fail too, the file keeps part of the stub. The verified
 * Tier-2 copy still contains the content, and the error of the stub write is reported.
 */
function restoreOriginal(fd: number, head: Buffer, original: BigIntStats): void {
  try {
    writeAtStart(fd, head);
    ftruncateSync(fd, Number(original.size));
    futimesSync(fd, nanosecondsToSeconds(original.atimeNs), nanosecondsToSeconds(original.mtimeNs));
  } catch {
    // The caller reports the first error, which gives the reason the stub could not be written.
  }
}

/** Reads the first `length` bytes of an open file, fewer when it is shorter. */
export function readAtStart(fd: number, length: number): Buffer {
  const head = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const read = readSync(fd, head, filled, length - filled, filled);
    if (read === 0) break;
    filled += read;
  }
  return head.subarray(0, filled);
}

/** Writes all of `content` at offset 0, looping because a write may take less (a full disk, a size limit). */
export function writeAtStart(fd: number, content: Buffer): void {
  for (let offset = 0; offset < content.length; ) {
    offset += writeSync(fd, content, offset, content.length - offset, offset);
  }
}

/** Cuts a file in the thread pool: freeing the blocks of a large file may wait for the disk. */
function ftruncateAsync(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => ftruncate(fd, length, (error) => (error ? reject(error) : resolve())));
}

/** Flushes an open file in the thread pool, so the event loop goes on while the disk writes. */
export function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
}

/** Converts nanoseconds to the fractional seconds that utimes takes, exact to about a microsecond. */
export function nanosecondsToSeconds(nanoseconds: bigint): number {
  const seconds = nanoseconds / 1_000_000_000n;
  return Number(seconds) + Number(nanoseconds - seconds * 1_000_000_000n) / 1e9;
}
