/**
 * The state of a claimed file on disk, and the checks that decide whether it
 * is still the file the scan saw.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';

import type { ClaimedAction } from '../../src/wire/acting.ts';
import { mtimeChanged } from '../../src/wire/modificationTime.ts';
import { mayBeStub, parseStub, type StubContent } from './stub.ts';

const NANOSECONDS_PER_SECOND = 1_000_000_000n;

/** The file at a claimed path: absent, a stub of this format, or any other entry. */
export type FileState =
  | { kind: 'missing' }
  | { kind: 'stub'; stats: BigIntStats; stub: StubContent }
  | { kind: 'other'; stats: BigIntStats };

/** Reads the entry at `filePath` without following a link; only a file of stub size is read. */
export async function readFileState(filePath: string | Buffer): Promise<FileState> {
  let stats: BigIntStats;
  try {
    stats = await lstat(filePath, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { kind: 'missing' };
    }
    throw error;
  }

  if (stats.isFile() && mayBeStub(stats.size)) {
    const stub = parseStub(await readFile(filePath));
    if (stub !== undefined) {
      return { kind: 'stub', stats, stub };
    }
  }
  return { kind: 'other', stats };
}

/** Whole Unix seconds of a modification time, rounded down like the scanner. */
export function mtimeSeconds(stats: BigIntStats): number {
  const nanoseconds = stats.mtimeNs;
  const seconds = nanoseconds / NANOSECONDS_PER_SECOND;
  const truncatedUp = nanoseconds < 0n && seconds * NANOSECONDS_PER_SECOND !== nanoseconds;
  return Number(truncatedUp ? seconds - 1n : seconds);
}

/**
 * Compares a file with the scan's record in the claim. Returns why it counts as changed,
 * or undefined when size, modification time and file id still match. A modification
 * time moved by FAT rounding or a daylight-saving shift does not count (mtimeChanged).
 */
export function describeChangeSinceScan(action: ClaimedAction, stats: BigIntStats): string | undefined {
  if (!stats.isFile()) {
    return 'the path is no longer a regular file';
  }
  if (stats.size !== BigInt(action.sizeBytes)) {
    return `size changed from ${action.sizeBytes} to ${stats.size} bytes since the scan`;
  }
  const mtime = mtimeSeconds(stats);
  if (mtimeChanged(action.mtimeUnix, mtime)) {
    return `modification time changed from ${action.mtimeUnix} to ${mtime} since the scan`;
  }
  if (action.fileId !== null && stats.ino !== BigInt(action.fileId)) {
    return `file id changed from ${action.fileId} to ${stats.ino} since the scan: the file was replaced`;
  }
  return undefined;
}

/** Returns whether two stats describe the same unchanged file: same id, size, and modification and change times to the nanosecond. */
export function unchangedSince(before: BigIntStats, after: BigIntStats): boolean {
  return (
    before.ino === after.ino &&
    before.dev === after.dev &&
    before.size === after.size &&
    before.mtimeNs === after.mtimeNs &&
    before.ctimeNs === after.ctimeNs
  );
}
