/**
 * Opening the files the agent reads and writes in a share, where other users can create
 * entries: a temporary name may already be a symbolic link, and a path checked by lstat
 * may be replaced by a link or a FIFO before it is opened.
 */
import { constants, open, openSync, writeSync } from 'node:fs';
import { open as openHandle, rm, type FileHandle } from 'node:fs/promises';

/** O_NOFOLLOW and O_NONBLOCK where Node defines them for the platform, else no flag. */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;
const NON_BLOCKING = constants.O_NONBLOCK ?? 0;

/**
 * Flags to open a file checked by lstat for reading. A symbolic link put in its place
 * fails with ELOOP instead of being followed. A FIFO opens at once instead of blocking
 * the thread until a writer appears. Neither changes reads of a regular file.
 */
export const READ_CHECKED_FILE = constants.O_RDONLY | NO_FOLLOW | NON_BLOCKING;

/**
 * READ_CHECKED_FILE plus O_NOATIME where the platform has it, so a file that ends STALE
 * or FAILED does not look recently read to the next plan. Linux allows it only to the
 * file's owner and root, so an EPERM is retried without it.
 */
const READ_CHECKED_FILE_NOATIME = READ_CHECKED_FILE | (constants.O_NOATIME ?? 0);

/** Opens a file checked by lstat for reading, without updating its access time where allowed. */
export function openCheckedSync(filePath: string | Buffer): number {
  if (READ_CHECKED_FILE_NOATIME !== READ_CHECKED_FILE) {
    try {
      return openSync(filePath, READ_CHECKED_FILE_NOATIME);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') {
        throw error;
      }
    }
  }
  return openSync(filePath, READ_CHECKED_FILE);
}

/** Error codes of an open that found something other than the regular file lstat saw. */
const REPLACED_CODES = new Set(['ELOOP', 'ENXIO']);

/** Returns whether an open failed because the path no longer names a regular file. */
export function isReplacedFileError(error: unknown): boolean {
  return REPLACED_CODES.has((error as NodeJS.ErrnoException)?.code ?? '');
}

/** Flags that create a file and fail when any entry, a link included, has the name. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NO_FOLLOW;

/**
 * Creates the file at `filePath` afresh and opens it for writing. An entry left under
 * the name (a killed run's file, or a link that another user placed there) is removed
 * first, and O_EXCL then makes the open fail rather than follow anything created in
 * between. Returns a plain descriptor, for synchronous calls.
 */
export async function createFresh(filePath: string | Buffer, mode: number): Promise<number> {
  await rm(filePath, { force: true });
  return new Promise((resolve, reject) => open(filePath, CREATE_NEW, mode, (error, fd) => (error ? reject(error) : resolve(fd))));
}

/** Creates the file at `filePath` afresh, as createFresh does, and returns a FileHandle. */
export async function createFreshHandle(filePath: string | Buffer, mode: number): Promise<FileHandle> {
  await rm(filePath, { force: true });
  return openHandle(filePath, CREATE_NEW, mode);
}

/** Writes all of `content` at the descriptor's position, looping because a write may take less (a full disk, a size limit). */
export function writeFullySync(fd: number, content: Buffer): void {
  for (let offset = 0; offset < content.length; ) {
    offset += writeSync(fd, content, offset, content.length - offset);
  }
}
