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
 * which readInterruptedStub recognises and finishInterruptedStub completes on the next
 * claim. A file no larger than the stub is a complete stub after the write alone.
 *
 * A write that fails part way (a full disk, a file-size limit) would leave neither stub
 * nor original, so the original's first bytes are read before it, and written back with
 * the original size and times when it fails. They fit where they were, so writing them
 * back needs no new space.
 *
 * NOTE: a power loss during the write may, on a disk that tears a 4 KiB write, leave a
 * first block that is neither stub nor original. The verified Tier-2 copy and the claim
 * in the database still name the content, but the agent reports such a file STALE.
 */
import { closeSync, constants, fstatSync, fsync, ftruncate, ftruncateSync, futimesSync, openSync, readSync, writeSync, type BigIntStats } from 'node:fs';

import { unchangedSince } from './fileState.ts';
import { parseStub, STUB_SIZE_BYTES, type StubContent } from './stub.ts';

/** O_NOFOLLOW and O_NONBLOCK as in safeOpen.ts: a link or FIFO put in the file's place is not followed or waited on. */
const WRITE_IN_PLACE = constants.O_RDWR | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Open errors after which the stub is written the other way, by rename: the agent may
 * not write to the file (a read-only file in a folder it may write), or the file is a
 * running program.
 */
const NOT_WRITABLE_CODES = new Set(['EACCES', 'EPERM', 'ETXTBSY']);

/** Result of writeStubInPlace. */
export type InPlaceOutcome = 'written' | 'not-writable' | 'changed';

/**
 * Writes `content` over the file at `filePath` when it is still the file `original`
 * describes, cuts it to the stub's size, restores its access and modification times and
 * flushes it. Returns 'changed' without writing when the file differs from `original`,
 * and 'not-writable' when the agent may not open it for writing.
 */
export async function writeStubInPlace(filePath: string | Buffer, original: BigIntStats, content: Buffer, afterWrite: () => void = () => undefined): Promise<InPlaceOutcome> {
  let fd: number;
  try {
    fd = openSync(filePath, WRITE_IN_PLACE);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (NOT_WRITABLE_CODES.has(code)) return 'not-writable';
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'ENOENT') return 'changed';
    throw error;
  }

  try {
    // The check is on the open descriptor, so a file swapped in after it cannot be written.
    if (!unchangedSince(original, fstatSync(fd, { bigint: true }))) return 'changed';

    const head = readAtStart(fd, Number(original.size < BigInt(content.length) ? original.size : BigInt(content.length)));
    try {
      writeAtStart(fd, content);
    } catch (error) {
      restoreOriginal(fd, head, original);
      throw error;
    }
    afterWrite();
    if (original.size > BigInt(content.length)) await ftruncateAsync(fd, content.length);
    futimesSync(fd, nanosecondsToSeconds(original.atimeNs), nanosecondsToSeconds(original.mtimeNs));
    await fsyncAsync(fd);
    return 'written';
  } finally {
    closeSync(fd);
  }
}

/**
 * Returns the stub at the start of a file larger than a stub: what a run killed between
 * writing a stub in place and cutting the file left. Undefined for any other file.
 */
export function readInterruptedStub(filePath: string | Buffer, stats: BigIntStats): StubContent | undefined {
  if (!stats.isFile() || stats.size <= BigInt(STUB_SIZE_BYTES)) return undefined;

  let fd: number;
  try {
    fd = openSync(filePath, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch {
    // Gone or unreadable since its lstat: it is then no stub this run can finish.
    return undefined;
  }
  try {
    const head = Buffer.alloc(STUB_SIZE_BYTES);
    const read = readSync(fd, head, 0, head.length, 0);
    return read === head.length ? parseStub(head) : undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Completes an interrupted stub: cuts the file to the stub's size and gives it the
 * modification time the stub records, which the killed run had not restored yet. Returns
 * false without a change when the file is no longer the one `seen` describes.
 */
export async function finishInterruptedStub(filePath: string | Buffer, seen: BigIntStats, stub: StubContent): Promise<boolean> {
  let fd: number;
  try {
    fd = openSync(filePath, WRITE_IN_PLACE);
  } catch (error) {
    if (NOT_WRITABLE_CODES.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    return false;
  }
  try {
    if (!unchangedSince(seen, fstatSync(fd, { bigint: true }))) return false;

    await ftruncateAsync(fd, STUB_SIZE_BYTES);
    // The original access time is lost with the killed run; the modification time serves for both.
    const mtime = nanosecondsToSeconds(BigInt(stub.mtimeNs));
    futimesSync(fd, mtime, mtime);
    await fsyncAsync(fd);
    return true;
  } finally {
    closeSync(fd);
  }
}

/**
 * Puts back what a failed stub write overwrote: the original's first bytes, its size and
 * its times. NOTE: should this fail too, the file keeps part of the stub; the verified
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

/** Reads the first `length` bytes of an open file. */
function readAtStart(fd: number, length: number): Buffer {
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
function writeAtStart(fd: number, content: Buffer): void {
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
