/**
 * The filesystem store's calls on file descriptors, in two sets that differ only in how
 * the cheap calls run.
 *
 * Every asynchronous call is a round trip through libuv's thread pool: the main thread
 * hands it over, a pool thread runs it, and the main thread runs again to see the result.
 * When many files are tiered at once, those round trips, not the calls, set the pace
 * (docs/benchmarks.md). On a local filesystem, some calls touch only what is in memory
 * and return in microseconds: closing a flushed file, fstat, opening an object that was
 * just written or its folder for a flush, and appending one line to a log.
 * SYNCHRONOUS_CALLS makes those on the main thread.
 *
 * Calls that may wait for the disk stay asynchronous in both sets: creating a file
 * (the inode allocator may read from disk), writes, reads, fsync and rename.
 */
import {
  appendFile as appendFileCallback,
  appendFileSync,
  close as closeCallback,
  closeSync,
  constants,
  fstat as fstatCallback,
  fstatSync,
  fsync as fsyncCallback,
  open as openCallback,
  openSync,
  read as readCallback,
  write as writeCallback,
  type BigIntStats,
} from 'node:fs';

/**
 * Flags of an open for reading. O_NONBLOCK makes an open of a FIFO return at once, so the
 * caller's fstat rejects it, instead of waiting for a writer (open(2): no effect on regular files).
 */
export const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** The calls whose cost depends on where the store's root is: cheap on a local disk, maybe slow on a network share. */
export interface MetadataCalls {
  /** Opens an existing file for reading. */
  openForReading(file: string | Buffer): Promise<number>;
  fstat(fd: number): Promise<BigIntStats>;
  close(fd: number): Promise<void>;
  /** Appends `text` to `file` with O_APPEND, creating the file when it is missing. */
  append(file: string, text: string): Promise<void>;
}

/** Every call through the thread pool: for network shares, FUSE mounts and unknown filesystems. */
export const THREAD_POOL_CALLS: MetadataCalls = {
  openForReading: (file) => openFile(file, READ_FLAGS),
  fstat: (fd) => new Promise((resolve, reject) => fstatCallback(fd, { bigint: true }, (error, stats) => (error ? reject(error) : resolve(stats)))),
  close: (fd) => new Promise((resolve, reject) => closeCallback(fd, (error) => (error ? reject(error) : resolve()))),
  append: (file, text) => new Promise((resolve, reject) => appendFileCallback(file, text, { flag: 'a' }, (error) => (error ? reject(error) : resolve()))),
};

/**
 * The cheap calls made synchronously, for local filesystems. Each still returns a
 * promise, so callers are the same for both sets, and a failure rejects it like the
 * asynchronous call would.
 */
export const SYNCHRONOUS_CALLS: MetadataCalls = {
  openForReading: async (file) => openSync(file, READ_FLAGS),
  fstat: async (fd) => fstatSync(fd, { bigint: true }),
  close: async (fd) => closeSync(fd),
  append: async (file, text) => appendFileSync(file, text, { flag: 'a' }),
};

/** Opens `file` with `flags` through the thread pool and resolves with the descriptor. */
export function openFile(file: string | Buffer, flags: string | number): Promise<number> {
  return new Promise((resolve, reject) => openCallback(file, flags, (error, fd) => (error ? reject(error) : resolve(fd))));
}

/**
 * Writes all of `content` at the descriptor's position, looping only when a write takes
 * less than it is given (a full disk, a file-size limit).
 */
export async function writeAll(fd: number, content: Buffer): Promise<void> {
  for (let offset = 0; offset < content.length; ) {
    offset += await new Promise<number>((resolve, reject) =>
      writeCallback(fd, content, offset, content.length - offset, null, (error, written) => (error ? reject(error) : resolve(written))),
    );
  }
}

/** Reads into `buffer` from the file position `position` and resolves with the bytes read. */
export function readAt(fd: number, buffer: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => readCallback(fd, buffer, 0, buffer.length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))));
}

export function fsyncFile(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsyncCallback(fd, (error) => (error ? reject(error) : resolve())));
}
