import { createHash, randomBytes } from 'node:crypto';
import type { BigIntStats, Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidTier2KeyError, Tier2ContentMismatchError, Tier2NotFoundError } from './errors.ts';
import { FolderSyncer } from './folderSyncer.ts';
import { fsyncFile, openFile, readAt, READ_FLAGS, SYNCHRONOUS_CALLS, THREAD_POOL_CALLS, writeAll, type MetadataCalls } from './descriptorCalls.ts';
import { isOnLocalFilesystem } from './localFilesystem.ts';
import { assertValidKey, assertValidPrefix, compareKeys, pageSizeOf, RESERVED_SEGMENT_PREFIX, windowsSegmentProblem } from './objectKeys.ts';
import type { ContentDigest, PutOptions, Tier2Object, Tier2Page, Tier2Store } from './tier2Store.ts';
import { ShaRecordLogs, TEMP_PREFIX, type ShaRecord } from './shaRecordLog.ts';
import { contentMismatch, hashing } from './verifiedBody.ts';

/**
 * Folder under the root where earlier releases kept one SHA-256 record file per object,
 * at the object's own key. Those records are still read, and removed with their object.
 */
const LEGACY_RECORD_FOLDER = `${RESERVED_SEGMENT_PREFIX}sha256`;

/** Age after which a temporary file with no writes counts as left by a killed put. */
const DEAD_TEMP_AGE_MS = 24 * 60 * 60 * 1000;

/** Folders one store remembers as swept before it starts a new list. */
const MAX_SWEPT_FOLDERS = 100_000;

/** Largest read of `readBack`. A smaller object is read with a buffer of its own size. */
const READ_BACK_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Mode of the store's cheap calls (descriptorCalls.ts): 'auto' makes them
 * synchronously when the root is on a local disk filesystem (Linux only) and through the
 * thread pool elsewhere. The other two force one way, for tests and for roots whose
 * filesystem statfs misjudges.
 */
export type MetadataCallMode = 'auto' | 'synchronous' | 'thread-pool';

export interface FsStoreOptions {
  metadataCalls?: MetadataCallMode;
}

/**
 * A Tier-2 store in a filesystem folder: a local folder, a mounted SMB share, or on
 * Windows a UNC path. An object is the file at `<root>/<key>`.
 *
 * Crash safety: `put` writes a temporary file in the object's own folder, flushes it
 * with fsync and renames it to the key, so a crash never leaves part of an object under
 * its final name. Temporary files are named `.strata~tmp-*` and never listed. Puts
 * that end at the same time in one folder share one flush of that folder.
 *
 * SHA-256: Node has no extended-attribute API, so each object's SHA-256 is kept in a
 * record in its folder's log (shaRecordLog.ts), together with the size and mtime the
 * object had when the record was written. `head` returns the SHA-256 only while the
 * object still has that size and mtime, which a rename keeps. So an object replaced by
 * other means, or a crash between writing the record and renaming the object, shows
 * no SHA-256 instead of a wrong one.
 *
 * A put killed midway leaves its temporary file. The first put of a store into a folder
 * removes those not written to for a day.
 *
 * NOTE: a folder that gets no later put keeps such files. Deletes and moves leave
 * empty folders behind; listings skip them. A file whose
 * name is not valid UTF-8 is not listed, because Node reads its name with U+FFFD.
 */
export class FsStore implements Tier2Store {
  readonly kind = 'fs' as const;
  private readonly root: string;
  /** Objects put at the same time in one folder share the flush of their renames. */
  private readonly folders = new FolderSyncer((folder) => this.flushFolder(folder));
  /** Folders this store swept of dead temporary files; each is swept once. */
  private readonly swept = new Set<string>();
  private readonly records: ShaRecordLogs;
  private readonly callMode: MetadataCallMode;
  /** The call set for the root, chosen on first use. */
  private calls: Promise<MetadataCalls> | undefined;
  /** Whether the root has the record folder of an earlier release, looked up once. */
  private legacyRecords: Promise<boolean> | undefined;

  constructor(root: string, options: FsStoreOptions = {}) {
    this.root = path.resolve(root);
    this.callMode = options.metadataCalls ?? 'auto';
    this.records = new ShaRecordLogs(() => this.metadataCalls());
  }

  /** Returns the call set for the root: synchronous on a local disk filesystem in 'auto' mode. */
  metadataCalls(): Promise<MetadataCalls> {
    this.calls ??= (async () => {
      if (this.callMode === 'synchronous') return SYNCHRONOUS_CALLS;
      if (this.callMode === 'thread-pool') return THREAD_POOL_CALLS;
      return (await isOnLocalFilesystem(this.root)) ? SYNCHRONOUS_CALLS : THREAD_POOL_CALLS;
    })();
    return this.calls;
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions): Promise<void> {
    const target = this.objectPath(key);
    const folder = path.dirname(target);
    const temp = path.join(folder, tempName());

    const calls = await this.metadataCalls();
    try {
      const fd = await openCreatingFolder(temp, 'wx');
      let stats: BigIntStats;
      try {
        await writeBody(key, fd, body, options);
        await fsyncFile(fd);
        stats = await calls.fstat(fd);
      } finally {
        await calls.close(fd);
      }

      await this.records.put(folder, path.basename(target), {
        sha256: options.sha256.toLowerCase(),
        sizeBytes: Number(stats.size),
        mtimeNs: stats.mtimeNs.toString(),
        ...(options.fullKey === undefined ? {} : { fullKey: options.fullKey }),
      });
      await rename(temp, target);
      await this.folders.sync(folder);
    } catch (error) {
      // A cleanup that fails too (ENOTDIR when a file is where a folder should be) must
      // not hide why the put failed. What stays is swept a day later, as after a kill.
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }

    await this.sweepOnce(folder);
  }

  /**
   * Removes the temporary files in `folder` that nothing has written to for
   * DEAD_TEMP_AGE_MS: what puts killed midway left. A live put writes as its body
   * arrives, so only one whose body stalled for a day can lose its file, and its rename
   * then fails. The sweep is best effort. An entry it cannot read or remove stays for a
   * later sweep, because the put that triggered it has already succeeded.
   */
  private async sweepOnce(folder: string): Promise<void> {
    if (this.swept.has(folder)) return;
    // A run over millions of folders would otherwise keep every path. Starting over only
    // sweeps some folders twice.
    if (this.swept.size >= MAX_SWEPT_FOLDERS) this.swept.clear();
    this.swept.add(folder);

    const deadBefore = Date.now() - DEAD_TEMP_AGE_MS;
    for (const entry of await readFolder(folder).catch(() => [])) {
      if (!entry.name.startsWith(TEMP_PREFIX)) continue;
      const file = path.join(folder, entry.name);
      const stats = await lstatOrNull(file);
      if (stats?.isFile() && stats.mtimeMs < deadBefore) {
        await rm(file, { force: true }).catch(() => undefined);
      }
    }
  }

  async head(key: string): Promise<Tier2Object | null> {
    return this.describe(key, this.objectPath(key), this.legacyRecordPath(key));
  }

  /**
   * Describes the file at `file`, or returns null when it is no file. `legacyRecordFile`
   * is where an earlier release kept its SHA-256 record.
   */
  private async describe(key: string, file: string, legacyRecordFile: string): Promise<Tier2Object | null> {
    const stats = await statOrNull(file);
    if (!stats || !stats.isFile()) return null;

    const record = await this.recordOf(file, legacyRecordFile);
    const current = record && record.sizeBytes === Number(stats.size) && record.mtimeNs === stats.mtimeNs.toString();
    return {
      key,
      sizeBytes: Number(stats.size),
      ...(current ? { sha256: record.sha256 } : {}),
      lastModified: new Date(Number(stats.mtimeMs)),
      ...(current && record.fullKey !== undefined ? { fullKey: record.fullKey } : {}),
    };
  }

  async get(key: string): Promise<Readable> {
    const file = this.objectPath(key);
    try {
      const handle = await open(file, READ_FLAGS);
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        throw new Tier2NotFoundError(this.kind, key);
      }
      return handle.createReadStream();
    } catch (error) {
      if (isMissing(error)) throw new Tier2NotFoundError(this.kind, key);
      throw error;
    }
  }

  async readBack(key: string): Promise<ContentDigest> {
    const file = this.objectPath(key);
    const calls = await this.metadataCalls();
    let fd: number;
    try {
      fd = await calls.openForReading(file);
    } catch (error) {
      if (isMissing(error)) throw new Tier2NotFoundError(this.kind, key);
      throw error;
    }
    try {
      const stats = await calls.fstat(fd);
      if (!stats.isFile()) throw new Tier2NotFoundError(this.kind, key);

      // One buffer of the expected size, plus one byte to see growth, takes most objects
      // in one read. A short read is taken as the end of the file. Should a network
      // filesystem return one early, the copy reads back short and fails verification.
      const buffer = Buffer.allocUnsafe(Math.min(Number(stats.size) + 1, READ_BACK_CHUNK_BYTES));
      const hash = createHash('sha256');
      let sizeBytes = 0;
      for (;;) {
        const bytesRead = await readAt(fd, buffer, sizeBytes);
        hash.update(buffer.subarray(0, bytesRead));
        sizeBytes += bytesRead;
        if (bytesRead < buffer.length) break;
      }
      return { sizeBytes, sha256: hash.digest('hex') };
    } finally {
      await calls.close(fd);
    }
  }

  /**
   * Throws when the root exists but is not a folder. A root not made yet lists as empty,
   * as the first put creates it. A file in its place would make every put fail, and a
   * listing would otherwise read it as empty too.
   */
  private async assertRootIsFolder(): Promise<void> {
    const stats = await statOrNull(this.root);
    if (stats !== null && !stats.isDirectory()) {
      throw new Error(`Tier-2 root ${this.root} is not a folder; set the target's root to a folder`);
    }
  }

  async list(prefix: string, pageToken: string | null, requestedPageSize?: number): Promise<Tier2Page> {
    assertValidPrefix(prefix);
    const pageSize = pageSizeOf(requestedPageSize);
    const objects: Tier2Object[] = [];
    let more = false;

    // The walk yields keys in UTF-8 byte order. Reading one key beyond the page shows
    // whether another page exists.
    for await (const key of this.walk('', prefix, pageToken)) {
      if (objects.length === pageSize) {
        more = true;
        break;
      }
      // Files written by others may have names no key may have (a backslash, a control
      // character), so listed names are described without the key checks.
      const segments = key.split('/');
      const object = await this.describe(key, path.join(this.root, ...segments), path.join(this.root, LEGACY_RECORD_FOLDER, ...segments));
      if (object) objects.push(object);
    }
    return { objects, nextToken: more ? objects[objects.length - 1]!.key : null };
  }

  async delete(key: string): Promise<void> {
    const file = this.objectPath(key);
    await rm(file, { force: true });
    await this.forgetRecord(key, file);
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    const from = this.objectPath(fromKey);
    const to = this.objectPath(toKey);
    if (fromKey === toKey) {
      if (!(await this.head(fromKey))) throw new Tier2NotFoundError(this.kind, fromKey);
      return;
    }

    const source = await statOrNull(from);
    if (!source?.isFile()) {
      // Done before: the object is at its new key already. Its old record may remain
      // from a crash after the rename.
      if ((await statOrNull(to))?.isFile()) {
        await this.forgetRecord(fromKey, from);
        return;
      }
      throw new Tier2NotFoundError(this.kind, fromKey);
    }

    // The record goes first: until the rename it describes nothing at `toKey` (or an
    // older object there, which its size and mtime will not match).
    await mkdir(path.dirname(to), { recursive: true });
    const record = await this.recordOf(from, this.legacyRecordPath(fromKey));
    if (record) await this.records.put(path.dirname(to), path.basename(to), record);
    else await this.records.forget(path.dirname(to), path.basename(to));
    await this.removeLegacyRecord(toKey);

    await rename(from, to);
    await this.flushFolder(path.dirname(to));
    await this.forgetRecord(fromKey, from);
  }

  /**
   * Flushes a folder so a rename in it survives a power loss. Windows cannot open a
   * folder for fsync, and some network filesystems reject it. There the rename is as
   * durable as the server makes it.
   */
  private async flushFolder(folder: string | Buffer): Promise<void> {
    const calls = await this.metadataCalls();
    let fd: number | undefined;
    try {
      fd = await calls.openForReading(folder);
      await fsyncFile(fd);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EACCES') throw error;
    } finally {
      if (fd !== undefined) await calls.close(fd);
    }
  }

  private objectPath(key: string): string {
    assertValidKey(key);
    const segments = key.split('/');
    if (process.platform === 'win32') {
      // NOTE: this branch is tested through windowsSegmentProblem on Linux only.
      for (const segment of segments) {
        const problem = windowsSegmentProblem(segment);
        if (problem) throw new InvalidTier2KeyError(key, `segment ${JSON.stringify(segment)} cannot be a Windows file name: ${problem}`);
      }
    }
    return path.join(this.root, ...segments);
  }

  private legacyRecordPath(key: string): string {
    assertValidKey(key);
    return path.join(this.root, LEGACY_RECORD_FOLDER, ...key.split('/'));
  }

  /** Returns the record of the object file `file`: its folder's log first, else a record of an earlier release. */
  private async recordOf(file: string, legacyRecordFile: string): Promise<ShaRecord | null> {
    const logged = await this.records.lookup(path.dirname(file), path.basename(file));
    if (logged !== null || !(await this.hasLegacyRecords())) return logged;
    return readLegacyRecord(legacyRecordFile);
  }

  /** Removes the record of `key`, whose object file was `file`, from its folder's log and from an earlier release's folder. */
  private async forgetRecord(key: string, file: string): Promise<void> {
    await this.records.forget(path.dirname(file), path.basename(file));
    await this.removeLegacyRecord(key);
  }

  private async removeLegacyRecord(key: string): Promise<void> {
    if (await this.hasLegacyRecords()) await rm(this.legacyRecordPath(key), { force: true });
  }

  private hasLegacyRecords(): Promise<boolean> {
    this.legacyRecords ??= stat(path.join(this.root, LEGACY_RECORD_FOLDER)).then(
      (stats) => stats.isDirectory(),
      () => false,
    );
    return this.legacyRecords;
  }

  /**
   * Yield the keys under `folderKey` (a key prefix ending in `/`, or '') that start with
   * `prefix` and sort after `after`, in UTF-8 byte order of the whole key. A folder's
   * keys all start with `name/`, so sorting folders as `name/` among the files gives
   * whole-key order; subtrees that cannot match are not read.
   */
  private async *walk(folderKey: string, prefix: string, after: string | null): AsyncGenerator<string> {
    if (folderKey === '') await this.assertRootIsFolder();
    const entries = await readFolder(path.join(this.root, ...folderKey.split('/').filter(Boolean)));
    const candidates: { key: string; sortKey: string; folder: boolean }[] = [];
    for (const entry of entries) {
      if (entry.name.startsWith(RESERVED_SEGMENT_PREFIX)) continue;
      const key = `${folderKey}${entry.name}`;
      if (entry.isDirectory()) candidates.push({ key: `${key}/`, sortKey: `${key}/`, folder: true });
      else if (entry.isFile()) candidates.push({ key, sortKey: key, folder: false });
    }
    candidates.sort((left, right) => compareKeys(left.sortKey, right.sortKey));

    for (const candidate of candidates) {
      if (candidate.folder) {
        // Descend only where the prefix and the folder overlap and the folder may hold
        // keys after the page token.
        const overlaps = candidate.key.startsWith(prefix) || prefix.startsWith(candidate.key);
        const reachable = after === null || after.startsWith(candidate.key) || compareKeys(candidate.key, after) > 0;
        if (overlaps && reachable) yield* this.walk(candidate.key, prefix, after);
        continue;
      }
      if (!candidate.key.startsWith(prefix)) continue;
      if (after !== null && compareKeys(candidate.key, after) <= 0) continue;
      yield candidate.key;
    }
  }
}

/** Reads a record file of an earlier release, or returns null when it is missing or torn. */
async function readLegacyRecord(recordFile: string): Promise<ShaRecord | null> {
  try {
    return JSON.parse(await readFile(recordFile, 'utf8')) as ShaRecord;
  } catch (error) {
    // A missing record means the SHA-256 is unknown, and so does a torn one.
    if (isMissing(error) || error instanceof SyntaxError) return null;
    throw error;
  }
}

async function readFolder(folder: string): Promise<Dirent[]> {
  try {
    return await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

async function lstatOrNull(file: string) {
  return lstat(file).catch(() => null);
}

async function statOrNull(file: string) {
  try {
    return await stat(file, { bigint: true });
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`;
}

/** Opens a file to create it, creating its folders when they are missing. */
async function openCreatingFolder(file: string, flags: string): Promise<number> {
  try {
    return await openFile(file, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(path.dirname(file), { recursive: true });
  return openFile(file, flags);
}

/**
 * Writes a put's body to an open file. A stream is hashed as it goes and must match
 * `options`. A Buffer was hashed by the caller from these very bytes (Tier2Store.put).
 */
async function writeBody(key: string, fd: number, body: Readable | Buffer, options: PutOptions): Promise<void> {
  if (Buffer.isBuffer(body)) {
    if (body.length !== options.sizeBytes) {
      throw new Tier2ContentMismatchError(key, `the body was ${body.length} bytes, not the declared ${options.sizeBytes}`);
    }
    await writeAll(fd, body);
    return;
  }

  const written = hashing(body);
  for await (const chunk of written) {
    await writeAll(fd, chunk as Buffer);
  }
  const mismatch = contentMismatch(written, options.sizeBytes, options.sha256);
  if (mismatch) throw new Tier2ContentMismatchError(key, mismatch);
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
