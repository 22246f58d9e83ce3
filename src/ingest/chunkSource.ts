import { rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { IngestLimits } from '../config.ts';
import type { ChunkColumn } from '../wire/contract.ts';
import { ByteLimit, Sha256Tap } from './chunkLimits.ts';
import { CsvRecordScanner } from './csvRecordScanner.ts';
import { FolderHashRewriter, type ChunkFolders } from './folderHashRewriter.ts';
import { readChunkHeader } from './chunkHeader.ts';
import { openParquetChunk, spoolBody } from './parquetChunk.ts';

export type ChunkFormat = 'csv' | 'parquet';

/**
 * A chunk's column list as sent and its rows as CSV for COPY (header line included),
 * with each `dir_path` field replaced by the folder's hash.
 */
export interface OpenedChunk {
  columns: ChunkColumn[];
  csv: AsyncIterable<Buffer>;
}

/**
 * One chunk body on its way into COPY: the body as sent passes the size limits and
 * a SHA-256 before anything reads its rows.
 */
export interface ChunkSource {
  readonly format: ChunkFormat;
  /** Read the column list and hand back the body as CSV (header line included) for COPY. */
  open(): Promise<OpenedChunk>;
  /** Read the rest of the body, to hash a repeated chunk without loading its rows. */
  drain(): Promise<void>;
  /** SHA-256 of the body as sent; valid once the body has been read to its end. */
  sha256(): Buffer;
  /** Bytes of the body as sent. */
  bytes(): number;
  /** Data rows counted in Node, to cross-check COPY's count; undefined where not counted. */
  rowsCounted(): number | undefined;
  /** The chunk's distinct folders (canonical) with their hashes and first lines; complete once COPY has read everything. */
  folders(): ChunkFolders;
  /** Map a line of the CSV that COPY read to the line of the chunk as sent. */
  sentLine(copyLine: number): number;
  /** Stop reading and release what the source holds (called on every path). */
  close(): Promise<void>;
}

interface Limits {
  hasher: Sha256Tap;
  sent: ByteLimit;
  stages: NodeJS.ReadWriteStream[];
}

/**
 * Output buffer of the chunk's gunzip. The default 16 KiB makes a 25 MB chunk pass
 * every later stage (limit, record scanner, folder rewriter, COPY) in 1,600 pieces;
 * with 256 KiB, gunzip alone took a sixth of the CPU in a measurement, and each later
 * stage runs a hundred times per chunk instead.
 */
const GUNZIP_CHUNK_BYTES = 256 * 1024;

function limitStages(limits: IngestLimits, gzip: boolean): Limits {
  const hasher = new Sha256Tap();
  const sent = new ByteLimit(limits.maxChunkBytes, 'STRATA_MAX_CHUNK_BYTES', 'chunk body');
  const expanded = new ByteLimit(limits.maxChunkDecompressedBytes, 'STRATA_MAX_CHUNK_DECOMPRESSED_BYTES', 'decompressed chunk');
  const stages = gzip ? [sent, hasher, createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }), expanded] : [sent, hasher, expanded];
  return { hasher, sent, stages };
}

/**
 * Return the maximum bytes of one record: a folder path and a name at their limits, every
 * character 4 bytes of UTF-8 and every one a doubled quote, plus the other fields.
 */
export function maxRecordBytes(limits: Pick<IngestLimits, 'maxPathChars' | 'maxNameChars'>): number {
  return 8 * (limits.maxPathChars + limits.maxNameChars) + 1024;
}

/**
 * Stream a CSV body straight through to COPY: only what COPY has not consumed yet is
 * in memory. The request stays out of `pipeline`, so a rejected chunk does not
 * destroy the socket: `close` unhooks the transforms and drains what the client is
 * still sending, and the error response reaches it.
 */
export function csvSource(body: Readable, limits: IngestLimits, gzip: boolean): ChunkSource {
  const { hasher, sent, stages: limited } = limitStages(limits, gzip);
  const scanner = new CsvRecordScanner(limits.maxChunkRows, maxRecordBytes(limits));
  const rewriter = new FolderHashRewriter();
  const stages = [...limited, scanner, rewriter];
  const first = stages[0] as unknown as Writable;
  const last = stages[stages.length - 1] as unknown as Readable;

  body.pipe(first);
  body.once('error', (error) => first.destroy(error));
  pipeline(stages as unknown as [Readable, Writable]).catch((error: unknown) => last.destroy(error as Error));
  const decoded = last[Symbol.asyncIterator]() as AsyncIterator<Buffer>;

  return {
    format: 'csv',
    async open() {
      const header = await readChunkHeader(decoded);
      async function* csv(): AsyncGenerator<Buffer> {
        yield header.firstBytes;
        for (let next = await decoded.next(); !next.done; next = await decoded.next()) yield next.value;
      }
      return { columns: header.columns, csv: csv() };
    },
    async drain() {
      for (let next = await decoded.next(); !next.done; next = await decoded.next()) {
        // Only the hash of the body as sent matters here.
      }
    },
    sha256: () => hasher.digest(),
    bytes: () => sent.bytes,
    rowsCounted: () => Math.max(scanner.records - 1, 0),
    folders: () => rewriter.folders,
    sentLine: (copyLine) => rewriter.sentLine(copyLine),
    async close() {
      body.unpipe(first);
      body.resume();
      for (const stage of stages) (stage as unknown as Readable).destroy();
    },
  };
}

/**
 * Write a Parquet body to a temporary file before its rows are read, because Parquet
 * keeps its index at the end. This runs before the database transaction starts, so a
 * slow upload keeps no transaction open.
 */
export async function parquetSource(body: Readable, limits: IngestLimits, gzip: boolean): Promise<ChunkSource> {
  const { hasher, sent, stages } = limitStages(limits, gzip);
  const file = await spoolBody(body, stages);
  const digest = hasher.digest();
  const rewriter = new FolderHashRewriter();

  return {
    format: 'parquet',
    async open() {
      const parquet = await openParquetChunk(file);
      async function* rewritten(): AsyncGenerator<Buffer> {
        for await (const bytes of parquet.csv) yield rewriter.rewrite(bytes);
        yield rewriter.finish();
      }
      return { columns: parquet.columns, csv: rewritten() };
    },
    async drain() {},
    sha256: () => digest,
    bytes: () => sent.bytes,
    rowsCounted: () => undefined,
    folders: () => rewriter.folders,
    sentLine: (copyLine) => rewriter.sentLine(copyLine),
    close: () => rm(file, { force: true }),
  };
}
