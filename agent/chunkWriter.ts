/**
 * Writes file records into gzip CSV chunk files in a spool folder, in the layout the
 * API accepts: a header line, then one row per file, LF line ends, RFC 4180 quoting.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';

import { OPTIONAL_CHUNK_COLUMNS, REQUIRED_CHUNK_COLUMNS } from '../src/wire/contract.ts';
import { syncFile, syncFolder } from './durableFile.ts';
import type { FileRecord } from './walk.ts';

/**
 * Header line of every chunk; the row writer below emits the columns in this order. The
 * file id lets the acting stage see that a file was replaced since the scan, and the
 * attributes mark stubs so that they are never planned again.
 */
export const CHUNK_HEADER = [...REQUIRED_CHUNK_COLUMNS, ...OPTIONAL_CHUNK_COLUMNS].join(',');

/** A finished chunk file, ready to upload. */
export interface ChunkFile {
  /** Position of the chunk in the scan, from 0. */
  seq: number;
  path: string;
  rows: number;
}

export interface ChunkWriterOptions {
  spoolDir: string;
  /** Maximum rows per chunk, header not counted. */
  chunkRows: number;
  /**
   * Called with each finished chunk. The writer waits for the returned promise before it
   * starts the next chunk, which lets the uploader pause the walk when it falls behind.
   */
  onChunk: (chunk: ChunkFile) => Promise<void>;
}

/** Rows are collected into strings of about this size before they are handed to gzip. */
const WRITE_BUFFER_CHARS = 64 * 1024;

/** The chunk file currently being written. */
interface OpenChunk {
  seq: number;
  partPath: string;
  gzip: Gzip;
  /** Settles when gzip has flushed everything into the `.part` file. */
  written: Promise<void>;
  rows: number;
  buffer: string;
}

/** Returns the spool file name of chunk `seq`, e.g. `chunk-000042.csv.gz`. */
export function chunkFileName(seq: number): string {
  return `chunk-${String(seq).padStart(6, '0')}.csv.gz`;
}

/** Formats one CSV row: text fields always double-quoted with `"` doubled, numbers bare. */
export function formatCsvRow(record: FileRecord): string {
  // One template literal instead of an array join: this runs once per file, and the
  // scanner benchmark counts it.
  return (
    `${quoteCsvText(record.dirPath)},${quoteCsvText(record.name)},${record.sizeBytes},` +
    `${record.atimeUnix},${record.mtimeUnix},${record.ctimeUnix},${record.fileId},${record.attributes ?? ''}\n`
  );
}

function quoteCsvText(value: string): string {
  return value.includes('"') ? `"${value.replaceAll('"', '""')}"` : `"${value}"`;
}

export class ChunkWriter {
  readonly #options: ChunkWriterOptions;
  #current: OpenChunk | undefined;
  #chunksWritten = 0;
  #rowsWritten = 0;

  constructor(options: ChunkWriterOptions) {
    if (!Number.isInteger(options.chunkRows) || options.chunkRows < 1) {
      throw new RangeError(`Invalid chunkRows ${options.chunkRows}: expected a whole number of at least 1`);
    }
    this.#options = options;
  }

  /** Chunks finished and handed to `onChunk`. */
  get chunksWritten(): number {
    return this.#chunksWritten;
  }

  /** Rows in the finished chunks. */
  get rowsWritten(): number {
    return this.#rowsWritten;
  }

  /** Appends one row, finishing the chunk when it reaches `chunkRows`. */
  async add(record: FileRecord): Promise<void> {
    const chunk = this.#current ?? this.#openChunk();
    chunk.buffer += formatCsvRow(record);
    chunk.rows++;

    if (chunk.rows >= this.#options.chunkRows) {
      await this.#finishChunk(chunk);
    } else if (chunk.buffer.length >= WRITE_BUFFER_CHARS) {
      await this.#flush(chunk);
    }
  }

  /** Finishes the last, partly filled chunk. A scan without files writes no chunk. */
  async close(): Promise<void> {
    if (this.#current !== undefined) {
      await this.#finishChunk(this.#current);
    }
  }

  /** Stops writing after a failure, removing the unfinished `.part` file. */
  async abort(): Promise<void> {
    const chunk = this.#current;
    this.#current = undefined;
    if (chunk === undefined) {
      return;
    }
    chunk.gzip.destroy();
    await chunk.written.catch(() => undefined);
    await rm(chunk.partPath, { force: true });
  }

  #openChunk(): OpenChunk {
    const seq = this.#chunksWritten;
    const partPath = path.join(this.#options.spoolDir, `${chunkFileName(seq)}.part`);
    const gzip = createGzip();

    // 'wx' fails if the file exists, so a spool folder reused by mistake is noticed.
    const written = pipeline(gzip, createWriteStream(partPath, { flags: 'wx' }));

    // The promise is awaited only when the chunk finishes. Until then #flush() sees a
    // write error through it, so it is marked handled here to avoid an unhandled rejection.
    written.catch(() => undefined);

    this.#current = { seq, partPath, gzip, written, rows: 0, buffer: `${CHUNK_HEADER}\n` };
    return this.#current;
  }

  /** Hands the buffered rows to gzip, waiting when gzip's buffer is full. */
  async #flush(chunk: OpenChunk): Promise<void> {
    const text = chunk.buffer;
    chunk.buffer = '';
    if (!chunk.gzip.write(text)) {
      // Racing the pipeline ends the wait with its error if the disk write fails, since a
      // destroyed stream never emits 'drain'.
      await Promise.race([once(chunk.gzip, 'drain'), chunk.written]);
    }
  }

  async #finishChunk(chunk: OpenChunk): Promise<void> {
    await this.#flush(chunk);
    chunk.gzip.end();
    await chunk.written;

    // The final name appears only once the file is complete, so a chunk file without
    // `.part` is always whole.
    // The data is flushed first, so that after a power loss the final name never
    // refers to a file that is still partly in memory; resume relies on that.
    const finalPath = chunk.partPath.slice(0, -'.part'.length);
    await syncFile(chunk.partPath);
    await rename(chunk.partPath, finalPath);
    await syncFolder(this.#options.spoolDir);

    this.#current = undefined;
    this.#chunksWritten++;
    this.#rowsWritten += chunk.rows;
    await this.#options.onChunk({ seq: chunk.seq, path: finalPath, rows: chunk.rows });
  }
}
