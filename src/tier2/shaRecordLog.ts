/**
 * The filesystem store's SHA-256 records: one append-only log per folder of objects,
 * `.strata~sha256.log`, with one JSON line per put, move or delete.
 *
 * Why a log: a record file per object cost one more file created per put. On ext4
 * without a journal each create skips the inodes freed in the last seconds, so creates
 * dominated the act benchmark (docs/benchmarks.md). An append creates nothing after a
 * folder's first.
 *
 * A record is valid only while its object has the recorded size and modification time,
 * as before. So a line lost, torn or left by a crash before the object's rename reads as
 * an unknown SHA-256, never a wrong one. Appends are not flushed, for the same reason.
 * The last line for a name wins, and a deletion is a line without a SHA-256. When more
 * than half of a log's lines are superseded, the next lookup rewrites it with the live
 * lines under a temporary name and renames it into place.
 *
 * NOTE: an append by another process during that rewrite is lost, and its object then
 * shows no SHA-256 until it is put again.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { THREAD_POOL_CALLS, type MetadataCalls } from './descriptorCalls.ts';
import { RESERVED_SEGMENT_PREFIX } from './objectKeys.ts';

/** Name of the log in each folder of objects. Listings skip it, as every reserved name. */
export const RECORD_LOG_NAME = `${RESERVED_SEGMENT_PREFIX}sha256.log`;

/** Prefix of temporary files, shared with the store so that its sweep removes them. */
export const TEMP_PREFIX = `${RESERVED_SEGMENT_PREFIX}tmp-`;

/** Folders whose parsed logs one store keeps in memory. */
const MAX_CACHED_FOLDERS = 1_000;

/** Lines a log may have beyond twice its live records before it is rewritten. */
const COMPACT_SLACK_LINES = 100;

/** The SHA-256 record of one object, valid only while the object has this size and mtime. */
export interface ShaRecord {
  sha256: string;
  sizeBytes: number;
  mtimeNs: string;
  fullKey?: string;
}

/** One line of a log: a record, or a deletion when `sha256` is absent. */
interface LogLine extends Partial<ShaRecord> {
  name: string;
}

/** A folder's log as last read: the live records by name, and where reading stopped. */
interface ParsedLog {
  ino: bigint;
  /** Bytes read, up to the end of the last complete line. */
  offset: number;
  lines: number;
  records: Map<string, ShaRecord>;
}

/** The record logs of one store's folders, with each folder's parsed log kept in memory. */
export class ShaRecordLogs {
  /** Parsed logs by folder, oldest first, so the first entry is dropped when full. */
  private readonly cache = new Map<string, ParsedLog>();
  /** Rewrites running, by folder. Appends to that folder wait for them. */
  private readonly rewrites = new Map<string, Promise<void>>();
  /** Appends running, by folder. A rewrite waits for none of them and is skipped instead. */
  private readonly appending = new Map<string, number>();
  /** The store's call set, which decides whether an append runs on the main thread. */
  private readonly calls: () => Promise<MetadataCalls>;

  constructor(calls: () => Promise<MetadataCalls> = async () => THREAD_POOL_CALLS) {
    this.calls = calls;
  }

  /** Returns the record of the object `name` in `folder`, or null when the log has none. */
  async lookup(folder: string, name: string): Promise<ShaRecord | null> {
    const log = await this.read(folder);
    if (log === null) return null;

    const record = log.records.get(name) ?? null;
    if (log.lines > 2 * log.records.size + COMPACT_SLACK_LINES) await this.rewriteUnlessBusy(folder);
    return record;
  }

  /** Appends the record of `name`. */
  async put(folder: string, name: string, record: ShaRecord): Promise<void> {
    await this.append(folder, { name, ...record });
  }

  /** Appends a deletion of `name` when the log has a record of it. */
  async forget(folder: string, name: string): Promise<void> {
    if ((await this.lookup(folder, name)) === null) return;
    await this.append(folder, { name });
  }

  private async append(folder: string, line: LogLine): Promise<void> {
    const calls = await this.calls();

    // The count goes up with no await after the last check, so no rewrite starts in between.
    for (let rewrite = this.rewrites.get(folder); rewrite !== undefined; rewrite = this.rewrites.get(folder)) {
      await rewrite;
    }
    this.appending.set(folder, (this.appending.get(folder) ?? 0) + 1);
    try {
      // One write with O_APPEND: POSIX moves the offset to the end with each write, and
      // Linux applies a write to a local file whole, so lines of concurrent puts do not
      // interleave there. Elsewhere a mixed line fails to parse and reads as no record.
      // The leading line feed ends a line that a crash left torn, so this one stays whole.
      await calls.append(path.join(folder, RECORD_LOG_NAME), `\n${JSON.stringify(line)}\n`);
    } finally {
      const remaining = this.appending.get(folder)! - 1;
      if (remaining === 0) this.appending.delete(folder);
      else this.appending.set(folder, remaining);
    }
  }

  /**
   * Rewrites the log of `folder` with its live records, unless an append or a rewrite of
   * that folder is running. A failed rewrite leaves the old log, which stays valid.
   */
  private async rewriteUnlessBusy(folder: string): Promise<void> {
    if (this.rewrites.has(folder) || this.appending.has(folder)) return;

    const rewrite = this.rewrite(folder)
      .catch(() => undefined)
      .finally(() => this.rewrites.delete(folder));
    this.rewrites.set(folder, rewrite);
    await rewrite;
  }

  /** Writes the live records of the folder's log to a new log and renames it over the old one. */
  private async rewrite(folder: string): Promise<void> {
    // Read again, because appends that ended after the caller's read are only in the file.
    // No append starts from here until the rename, and none was running when this began.
    const log = await this.read(folder);
    if (log === null) return;
    const temp = path.join(folder, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    let text = '';
    for (const [name, record] of log.records) {
      text += `${JSON.stringify({ name, ...record })}\n`;
    }
    this.cache.delete(folder);
    try {
      await writeFile(temp, text, { flag: 'wx' });
      await rename(temp, path.join(folder, RECORD_LOG_NAME));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  /**
   * Returns the folder's log, reading only what was appended since the last read while
   * the file is the same. Null when the folder has no log.
   */
  private async read(folder: string): Promise<ParsedLog | null> {
    let handle;
    try {
      handle = await open(path.join(folder, RECORD_LOG_NAME), 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw error;
    }

    try {
      const stats = await handle.stat({ bigint: true });
      let log = this.cache.get(folder);
      if (log === undefined || log.ino !== stats.ino || BigInt(log.offset) > stats.size) {
        log = { ino: stats.ino, offset: 0, lines: 0, records: new Map() };
      }
      this.cache.delete(folder);
      this.cache.set(folder, log);
      if (this.cache.size > MAX_CACHED_FOLDERS) this.cache.delete(this.cache.keys().next().value!);

      // Lookups in one folder share its parsed log. A read that another one advanced while
      // it waited reads again from the new offset, so no line is applied twice.
      const size = Number(stats.size);
      for (let start = log.offset; size > start; start = log.offset) {
        const bytes = Buffer.allocUnsafe(size - start);
        const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
        if (log.offset !== start) continue;
        log.offset += parseLines(bytes.subarray(0, bytesRead), log);
        break;
      }
      return log;
    } finally {
      await handle.close();
    }
  }
}

/** Applies the complete lines of `bytes` to `log` and returns the bytes they take. */
function parseLines(bytes: Buffer, log: ParsedLog): number {
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    // A line without its line feed is still being appended, or was torn by a crash.
    if (end < 0) return start;

    if (end === start) {
      // Each append starts with a line feed, so most lines are followed by an empty one.
      start = end + 1;
      continue;
    }

    log.lines++;
    const line = parseLine(bytes.subarray(start, end).toString('utf8'));
    if (line !== undefined) {
      if (line.sha256 === undefined) log.records.delete(line.name);
      else log.records.set(line.name, { sha256: line.sha256, sizeBytes: line.sizeBytes!, mtimeNs: line.mtimeNs!, ...(line.fullKey === undefined ? {} : { fullKey: line.fullKey }) });
    }
    start = end + 1;
  }
}

/** Reads one line, or undefined when it is not a well-formed record or deletion. */
function parseLine(text: string): LogLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;

  const line = value as Record<string, unknown>;
  if (typeof line.name !== 'string') return undefined;
  if (line.sha256 === undefined) return { name: line.name };
  if (typeof line.sha256 !== 'string' || typeof line.sizeBytes !== 'number' || typeof line.mtimeNs !== 'string') return undefined;
  if (line.fullKey !== undefined && typeof line.fullKey !== 'string') return undefined;
  return line as unknown as LogLine;
}
