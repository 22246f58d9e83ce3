/**
 * Read-only walk of a folder tree that yields one record per regular file.
 *
 * The walk never follows symbolic links, and on Windows Node reports junctions as
 * symbolic links too. It never opens a file. It keeps in memory only the unvisited
 * subfolders of the folders on the current path, so a tree of any size streams through.
 */
import { isUtf8 } from 'node:buffer';
import type { BigIntStats, Dirent } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/** One regular file: a row of a chunk. Times are whole Unix seconds, rounded down. */
export interface FileRecord {
  /** Absolute path of the containing folder in the host's native form. */
  dirPath: string;
  name: string;
  sizeBytes: bigint;
  atimeUnix: bigint;
  mtimeUnix: bigint;
  /** Creation time on Windows, inode change time elsewhere. */
  ctimeUnix: bigint;
}

/** Running totals of one walk, updated in place so progress reports can read them. */
export interface WalkCounters {
  files: number;
  /** Folders opened and listed, the root included. */
  dirs: number;
  /** Entries that could not be listed or stat'ed, or whose names are not valid UTF-8. */
  unreadable: number;
  /** Symbolic links, junctions, sockets, pipes and devices: entries that are not files or folders. */
  skipped: number;
  bytes: bigint;
}

export interface TreeWalkerOptions {
  logger: Logger;
  /** Decides which timestamp becomes ctime_unix; defaults to the running platform. */
  platform?: NodeJS.Platform;
}

/**
 * Error codes that mean one entry cannot be read, so the walk counts it and goes on.
 * ENOENT, ENOTDIR and ELOOP mostly mean the entry was deleted or replaced during the walk,
 * and EBUSY is how Windows reports some locked system files. Any other error ends the walk.
 */
const UNREADABLE_CODES: ReadonlySet<string> = new Set([
  'EACCES',
  'EPERM',
  'ENOENT',
  'ENOTDIR',
  'ELOOP',
  'EBUSY',
]);

/** Files of one folder that are stat'ed in parallel, which hides the latency of network shares. */
const STAT_BATCH_SIZE = 64;

const NANOSECONDS_PER_SECOND = 1_000_000_000n;

export class TreeWalker {
  readonly root: string;
  readonly counters: WalkCounters = { files: 0, dirs: 0, unreadable: 0, skipped: 0, bytes: 0n };
  readonly #logger: Logger;
  readonly #useBirthtime: boolean;

  constructor(root: string, options: TreeWalkerOptions) {
    this.root = path.resolve(root);
    this.#logger = options.logger;

    // ctime_unix carries the creation time on Windows, the date Explorer shows as
    // "Created". POSIX file systems do not all keep a creation time, so there it
    // carries the inode change time.
    this.#useBirthtime = (options.platform ?? process.platform) === 'win32';
  }

  /** Yields the regular files under the root, depth first, folder by folder. */
  async *walk(): AsyncGenerator<FileRecord> {
    // An explicit stack instead of recursion, so that a deep tree cannot exhaust the call
    // stack and each folder is closed before its subfolders are opened.
    const pendingDirs: string[] = [this.root];

    while (pendingDirs.length > 0) {
      const dirPath = pendingDirs.pop()!;
      const subdirs: string[] = [];

      yield* this.#walkOneDir(dirPath, subdirs);

      // Push in reverse so that subfolders are visited in the order the folder listed them.
      for (let i = subdirs.length - 1; i >= 0; i--) {
        pendingDirs.push(subdirs[i]!);
      }
    }
  }

  /** Yields the files of one folder and appends the paths of its subfolders to `subdirs`. */
  async *#walkOneDir(dirPath: string, subdirs: string[]): AsyncGenerator<FileRecord> {
    let entries: AsyncIterable<Dirent<Buffer>>;
    try {
      // Names are read as bytes so that names that are not valid UTF-8 can be detected
      // instead of silently decoded with replacement characters. @types/node 22 types
      // only string names, hence the casts.
      const dir = await opendir(dirPath, { encoding: 'buffer' as BufferEncoding });
      entries = dir as unknown as AsyncIterable<Dirent<Buffer>>;
    } catch (error) {
      this.#countUnreadable(dirPath, error);
      return;
    }
    this.counters.dirs++;

    let pendingFiles: string[] = [];
    let invalidNames = 0;
    try {
      // Leaving this loop, normally or by an exception, closes the directory handle.
      for await (const entry of entries) {
        if (!isUtf8(entry.name)) {
          invalidNames++;
          continue;
        }
        const name = entry.name.toString('utf8');

        if (entry.isSymbolicLink()) {
          this.counters.skipped++;
        } else if (entry.isDirectory()) {
          subdirs.push(path.join(dirPath, name));
        } else {
          pendingFiles.push(name);
          if (pendingFiles.length >= STAT_BATCH_SIZE) {
            yield* this.#statFiles(dirPath, pendingFiles, subdirs);
            pendingFiles = [];
          }
        }
      }
    } catch (error) {
      // Listing failed partway; the entries read so far are kept.
      this.#countUnreadable(dirPath, error);
    }

    yield* this.#statFiles(dirPath, pendingFiles, subdirs);

    if (invalidNames > 0) {
      // The server stores names as UTF-8 text, so these entries cannot be recorded.
      this.counters.unreadable += invalidNames;
      this.#logger.warn(
        { folder: dirPath, count: invalidNames },
        'Skipped entries whose names are not valid UTF-8; rename them to include them in the scan',
      );
    }
  }

  /** Stats `names` in `dirPath` in parallel and yields the regular files among them. */
  async *#statFiles(dirPath: string, names: string[], subdirs: string[]): AsyncGenerator<FileRecord> {
    const results = await Promise.allSettled(
      names.map((name) => lstat(path.join(dirPath, name), { bigint: true })),
    );

    for (const [index, result] of results.entries()) {
      const name = names[index]!;
      const fullPath = path.join(dirPath, name);

      if (result.status === 'rejected') {
        this.#countUnreadable(fullPath, result.reason);
        continue;
      }

      const stats = result.value;
      if (stats.isFile()) {
        this.counters.files++;
        this.counters.bytes += stats.size;
        yield this.#toRecord(dirPath, name, stats);
      } else if (stats.isDirectory()) {
        // The folder listing did not report a type for this entry, or the entry was
        // replaced by a folder since it was listed.
        subdirs.push(fullPath);
      } else {
        this.counters.skipped++;
      }
    }
  }

  #toRecord(dirPath: string, name: string, stats: BigIntStats): FileRecord {
    const changeNs = this.#useBirthtime ? stats.birthtimeNs : stats.ctimeNs;
    return {
      dirPath,
      name,
      sizeBytes: stats.size,
      atimeUnix: floorToSeconds(stats.atimeNs),
      mtimeUnix: floorToSeconds(stats.mtimeNs),
      ctimeUnix: floorToSeconds(changeNs),
    };
  }

  /** Counts an entry that cannot be read, or rethrows an error that should end the walk. */
  #countUnreadable(entryPath: string, error: unknown): void {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === undefined || !UNREADABLE_CODES.has(code)) {
      throw error;
    }
    this.counters.unreadable++;
    this.#logger.debug({ path: entryPath, code }, 'Counted an entry as unreadable');
  }
}

/** Converts nanoseconds since the epoch to whole seconds, rounding down also before 1970. */
function floorToSeconds(nanoseconds: bigint): bigint {
  const seconds = nanoseconds / NANOSECONDS_PER_SECOND;
  const truncatedUp = nanoseconds < 0n && seconds * NANOSECONDS_PER_SECOND !== nanoseconds;
  return truncatedUp ? seconds - 1n : seconds;
}
