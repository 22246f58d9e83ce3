/**
 * Read-only walk of a folder tree that yields the records of its regular files, in
 * batches of up to one folder's files.
 *
 * The walk never follows symbolic links, and on Windows Node reports junctions as
 * symbolic links too. It never opens a file: it lists folders and calls lstat. It keeps
 * in memory the unvisited subfolders of the folders on the current path and one folder
 * listing at a time, so a tree of any size streams through.
 */
import type { BigIntStats, Dirent } from 'node:fs';
import { lstatSync, readdirSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';

import { readEntryName, type EntryName } from './escapedName.ts';
import { childFsPath, childWalkDir, fsPathPrefix, rootWalkDir, type WalkDir } from './nativePath.ts';
import { isAgentTempName } from './tiering/tempNames.ts';
import { hasStubMagicSync, mayBeStub, OFFLINE_ATTRIBUTE } from './tiering/stub.ts';

/** One regular file: a row of a chunk. Times are whole Unix seconds, rounded down. */
export interface FileRecord {
  /** Absolute path of the containing folder in the host's canonical form, escaped segments included. */
  dirPath: string;
  /** The name as listed, or its escaped form (starting with `/`) when it is not valid UTF-8. */
  name: string;
  sizeBytes: bigint;
  atimeUnix: bigint;
  mtimeUnix: bigint;
  /** Creation time on Windows, inode change time elsewhere. */
  ctimeUnix: bigint;
  /** File id: the NTFS file reference number on Windows, the inode number elsewhere (the `frn` column). */
  fileId: bigint;
  /** Win32 attribute bits the agent reports: OFFLINE_ATTRIBUTE for a Strata stub, else undefined. */
  attributes: number | undefined;
}

/** Running totals of one walk, updated in place so progress reports can read them. */
export interface WalkCounters {
  files: number;
  /** Folders opened and listed, the root included. */
  dirs: number;
  /** Entries that could not be listed or stat'ed. */
  unreadable: number;
  /** Symbolic links, junctions, sockets, pipes and devices: entries that are not files or folders. */
  skipped: number;
  /** Entries of any kind whose names were not valid UTF-8 and are reported in the escaped form. */
  escaped: number;
  bytes: bigint;
}

/**
 * File-system call style of the walk. `sync` lists and stats with synchronous calls,
 * which is about five times faster on a local disk, because each asynchronous call
 * costs a thread-pool round trip. `parallel` stats up to STAT_BATCH_SIZE files of a
 * folder at once, which hides the latency of a network share.
 */
export type StatMode = 'sync' | 'parallel';

export interface TreeWalkerOptions {
  logger: Logger;
  /** Decides the path forms and which timestamp becomes ctime_unix; defaults to the running platform. */
  platform?: NodeJS.Platform;
  /** Default `sync`. */
  statMode?: StatMode;
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

/** Files of one folder stat'ed at once in `parallel` mode. */
const STAT_BATCH_SIZE = 64;

/** Maximum records per batch in `sync` mode; a larger folder yields several batches. */
const SYNC_BATCH_SIZE = 4096;

/**
 * In `sync` mode the walk blocks the event loop, so it yields to it after this many
 * milliseconds, letting uploads and progress timers in the same process run.
 */
const SYNC_SLICE_MS = 20;

const NANOSECONDS_PER_SECOND = 1_000_000_000n;

/** Node decodes a name that is not valid UTF-8 (or WTF-8 with a lone surrogate) with this character. */
const REPLACEMENT_CHARACTER = '\uFFFD';

/** A listed entry that is not a folder and not a link, waiting for its lstat in `parallel` mode. */
interface PendingFile {
  name: string;
  fsPath: string | Buffer;
}

type Listing = Array<Dirent<string> | Dirent<Buffer>>;

export class TreeWalker {
  /** The root in the canonical form reported as `dir_path`. */
  readonly root: string;
  readonly counters: WalkCounters = { files: 0, dirs: 0, unreadable: 0, skipped: 0, escaped: 0, bytes: 0n };
  readonly #rootDir: WalkDir;
  readonly #logger: Logger;
  readonly #platform: NodeJS.Platform;
  readonly #useBirthtime: boolean;
  readonly #statMode: StatMode;

  constructor(root: string, options: TreeWalkerOptions) {
    this.#platform = options.platform ?? process.platform;
    this.#rootDir = rootWalkDir(root, this.#platform);
    this.root = this.#rootDir.wirePath;
    this.#logger = options.logger;
    this.#statMode = options.statMode ?? 'sync';

    // ctime_unix carries the creation time on Windows, the date Explorer shows as
    // "Created". POSIX file systems do not all keep a creation time, so there it
    // carries the inode change time.
    this.#useBirthtime = this.#platform === 'win32';
  }

  /** Yields the regular files under the root one by one; walkBatches() is faster. */
  async *walk(): AsyncGenerator<FileRecord> {
    for await (const batch of this.walkBatches()) {
      yield* batch;
    }
  }

  /**
   * Yields the regular files under the root, depth first, folder by folder, each batch
   * from one folder. Batches are never empty.
   */
  async *walkBatches(): AsyncGenerator<FileRecord[]> {
    // An explicit stack instead of recursion, so that a deep tree cannot exhaust the call
    // stack, and each listing is done before its subfolders are opened.
    const pendingDirs: WalkDir[] = [this.#rootDir];
    let sliceStart = performance.now();

    while (pendingDirs.length > 0) {
      const dir = pendingDirs.pop()!;
      const subdirs: WalkDir[] = [];

      const listing = this.#statMode === 'sync' ? this.#listSync(dir) : await this.#listParallel(dir);
      if (listing !== undefined) {
        this.counters.dirs++;
        if (this.#statMode === 'sync') {
          yield* this.#statListingSync(dir, listing, subdirs);
        } else {
          const files = this.#sortEntries(dir, listing, subdirs);
          for (let start = 0; start < files.length; start += STAT_BATCH_SIZE) {
            const batch = await this.#statParallel(dir, files.slice(start, start + STAT_BATCH_SIZE), subdirs);
            if (batch.length > 0) {
              yield batch;
            }
          }
        }
      }

      // Push in reverse so that subfolders are visited in the order the folder listed them.
      for (let i = subdirs.length - 1; i >= 0; i--) {
        pendingDirs.push(subdirs[i]!);
      }

      if (this.#statMode === 'sync' && performance.now() - sliceStart >= SYNC_SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
  }

  /**
   * Lists a folder, or counts it unreadable and returns undefined.
   * NOTE: Node has no way to list a folder without following a link in its place, so a
   * folder replaced by a link between its parent's listing and this call is followed:
   * the link target's tree is walked in its place, though links inside it are not.
   */
  #listSync(dir: WalkDir): Listing | undefined {
    try {
      const listing = readdirSync(dir.fsPath, { withFileTypes: true });

      // Names are read as text, which is faster. Only a folder where Node had to replace
      // invalid bytes is listed again as bytes, so that those names can be escaped.
      return hasReplacedName(listing) ? readdirSync(dir.fsPath, { withFileTypes: true, encoding: 'buffer' }) : listing;
    } catch (error) {
      this.#countUnreadable(dir.wirePath, error);
      return undefined;
    }
  }

  async #listParallel(dir: WalkDir): Promise<Listing | undefined> {
    try {
      const listing = await readdir(dir.fsPath, { withFileTypes: true });
      return hasReplacedName(listing) ? await readdir(dir.fsPath, { withFileTypes: true, encoding: 'buffer' }) : listing;
    } catch (error) {
      this.#countUnreadable(dir.wirePath, error);
      return undefined;
    }
  }

  /**
   * Counts links as skipped, appends folders to `subdirs`, and returns the other
   * entries, which need an lstat to tell regular files from pipes, sockets and devices.
   */
  #sortEntries(dir: WalkDir, listing: Listing, subdirs: WalkDir[]): PendingFile[] {
    const files: PendingFile[] = [];
    for (const entry of listing) {
      const name = this.#readName(dir, entry.name);
      if (entry.isSymbolicLink()) {
        this.counters.skipped++;
      } else if (entry.isDirectory()) {
        subdirs.push(childWalkDir(dir, name, this.#platform));
      } else {
        // Entries whose type the file system did not report are stat'ed here as well.
        files.push({ name: name.wire, fsPath: childFsPath(dir.fsPath, name, this.#platform) });
      }
    }
    return files;
  }

  /**
   * Stats the entries of one listing that are not folders or links, one after another,
   * and yields their records in batches of up to SYNC_BATCH_SIZE. Each file is stat'ed
   * as soon as it is seen, so no list of pending files is built.
   */
  *#statListingSync(dir: WalkDir, listing: Listing, subdirs: WalkDir[]): Generator<FileRecord[]> {
    const prefix = fsPathPrefix(dir.fsPath, this.#platform);
    let records: FileRecord[] = [];

    for (const entry of listing) {
      const name = this.#readName(dir, entry.name);
      if (entry.isSymbolicLink()) {
        this.counters.skipped++;
        continue;
      }
      if (entry.isDirectory()) {
        subdirs.push(childWalkDir(dir, name, this.#platform));
        continue;
      }

      // Entries whose type the file system did not report are stat'ed here as well.
      const fsPath = prefix !== undefined && name.raw === undefined ? `${prefix}${name.wire}` : childFsPath(dir.fsPath, name, this.#platform);
      let stats: BigIntStats;
      try {
        stats = lstatSync(fsPath, { bigint: true });
      } catch (error) {
        this.#countUnreadable(`${dir.wirePath}: ${name.wire}`, error);
        continue;
      }
      this.#classify(dir, name.wire, fsPath, stats, records, subdirs);

      if (records.length >= SYNC_BATCH_SIZE) {
        yield records;
        records = [];
      }
    }

    if (records.length > 0) {
      yield records;
    }
  }

  async #statParallel(dir: WalkDir, files: PendingFile[], subdirs: WalkDir[]): Promise<FileRecord[]> {
    const results = await Promise.allSettled(files.map((file) => lstat(file.fsPath, { bigint: true })));
    const records: FileRecord[] = [];
    for (const [index, result] of results.entries()) {
      const file = files[index]!;
      if (result.status === 'rejected') {
        this.#countUnreadable(`${dir.wirePath}: ${file.name}`, result.reason);
        continue;
      }
      this.#classify(dir, file.name, file.fsPath, result.value, records, subdirs);
    }
    return records;
  }

  /** Adds a regular file to `records`, a folder to `subdirs`, and counts anything else as skipped. */
  #classify(
    dir: WalkDir,
    name: string,
    fsPath: string | Buffer,
    stats: BigIntStats,
    records: FileRecord[],
    subdirs: WalkDir[],
  ): void {
    if (stats.isFile()) {
      // A stub or recall left half-done by a killed agent is the agent's own file, not the share's.
      if (isAgentTempName(name)) {
        this.counters.skipped++;
        return;
      }
      this.counters.files++;
      this.counters.bytes += stats.size;
      const changeNs = this.#useBirthtime ? stats.birthtimeNs : stats.ctimeNs;
      records.push({
        dirPath: dir.wirePath,
        name,
        sizeBytes: stats.size,
        atimeUnix: floorToSeconds(stats.atimeNs),
        mtimeUnix: floorToSeconds(stats.mtimeNs),
        ctimeUnix: floorToSeconds(changeNs),
        fileId: stats.ino,

        // Only files of the stub's exact size are opened, so a scan reads almost no content.
        attributes: mayBeStub(stats.size) && hasStubMagicSync(fsPath) ? OFFLINE_ATTRIBUTE : undefined,
      });
    } else if (stats.isDirectory()) {
      // The folder listing did not report a type for this entry, or the entry was
      // replaced by a folder since it was listed.
      subdirs.push({ fsPath, wirePath: childWirePath(dir, name, this.#platform) });
    } else {
      this.counters.skipped++;
    }
  }

  /** Converts a listed name, counting and logging it when it has to be escaped. */
  #readName(dir: WalkDir, listedName: string | Buffer): EntryName {
    const name = readEntryName(listedName);
    if (name.raw !== undefined) {
      this.#countEscaped(dir, name);
    }
    return name;
  }

  #countEscaped(dir: WalkDir, name: EntryName): void {
    this.counters.escaped++;

    // The log shows the escaped form only: the raw bytes could be control sequences
    // that a terminal would act on.
    this.#logger.warn(
      { folder: dir.wirePath, name: name.wire },
      'Name is not valid UTF-8; reporting it in the escaped form (a leading "/", invalid bytes and "%" as %XX)',
    );
  }

  /** Counts an entry that cannot be read, or rethrows an error that should end the walk. */
  #countUnreadable(entry: string, error: unknown): void {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === undefined || !UNREADABLE_CODES.has(code)) {
      throw error;
    }
    this.counters.unreadable++;
    this.#logger.debug({ path: entry, code }, 'Counted an entry as unreadable');
  }
}

function hasReplacedName(listing: Dirent<string>[]): boolean {
  for (const entry of listing) {
    if (entry.name.includes(REPLACEMENT_CHARACTER)) {
      return true;
    }
  }
  return false;
}

function childWirePath(dir: WalkDir, name: string, platform: NodeJS.Platform): string {
  return childWalkDir(dir, { wire: name, raw: undefined }, platform).wirePath;
}

/** Converts nanoseconds since the epoch to whole seconds, rounding down also before 1970. */
function floorToSeconds(nanoseconds: bigint): bigint {
  const seconds = nanoseconds / NANOSECONDS_PER_SECOND;
  const truncatedUp = nanoseconds < 0n && seconds * NANOSECONDS_PER_SECOND !== nanoseconds;
  return truncatedUp ? seconds - 1n : seconds;
}
