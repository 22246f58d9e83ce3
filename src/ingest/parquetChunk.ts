import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { StrataError } from '../errors.ts';
import type { ChunkColumn } from '../wire/contract.ts';
import { checkColumns } from './chunkHeader.ts';

/** Columns whose values are file-system text; every other chunk column is an integer. */
const TEXT_COLUMNS: ReadonlySet<ChunkColumn> = new Set(['dir_path', 'name']);

// `ignoreBOM` keeps a leading U+FEFF, because it is part of the name. TextDecoder drops it by default.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Write a request body to a temporary file through the given transforms (size limits
 * and hash). Parquet keeps its index at the end of the file, so a chunk must be
 * complete before any row can be read. It waits on disk, not in memory.
 */
export async function spoolBody(body: Readable, stages: NodeJS.ReadWriteStream[]): Promise<string> {
  const folder = path.join(os.tmpdir(), 'strata-chunks');
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const file = path.join(folder, `${randomUUID()}.parquet`);

  // As for CSV, the request stays out of `pipeline`: a failure must not destroy the
  // socket before the error response is sent, so the rest of the body is drained.
  const first = stages[0] as unknown as NodeJS.WritableStream;
  body.pipe(first);
  body.once('error', (error) => (first as unknown as Readable).destroy(error));

  try {
    await pipeline([...stages, createWriteStream(file, { mode: 0o600 })] as unknown as [Readable, NodeJS.WritableStream]);
    return file;
  } catch (error) {
    body.unpipe(first);
    body.resume();
    await rm(file, { force: true });
    throw error;
  }
}

export interface ParquetRows {
  columns: ChunkColumn[];
  /** The rows as CSV with a header line, ready for COPY. */
  csv: AsyncGenerator<Buffer>;
}

/**
 * Open a Parquet chunk and present it as CSV for the same COPY as CSV chunks, so both
 * formats share one set of columns, limits and errors. Text is read as raw bytes and
 * checked as strict UTF-8 without NUL, because a lenient decoder would silently turn
 * a bad byte into U+FFFD and store a different name.
 */
export async function openParquetChunk(file: string): Promise<ParquetRows> {
  const buffer = await asyncBufferFromFile(file);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (error) {
    throw StrataError.invalid('INVALID_PARQUET', `the chunk is not a readable Parquet file: ${(error as Error).message}`, {}, error);
  }

  const leaves = metadata.schema.slice(1);
  if (leaves.some((element) => (element.num_children ?? 0) > 0)) {
    throw StrataError.invalid('INVALID_PARQUET', 'the Parquet schema must be flat: nested columns are not accepted');
  }
  const columns = checkColumns(leaves.map((element) => element.name));
  return { columns, csv: rowsAsCsv(buffer, metadata, columns) };
}

async function* rowsAsCsv(buffer: AsyncBuffer, metadata: FileMetaData, columns: ChunkColumn[]): AsyncGenerator<Buffer> {
  yield Buffer.from(`${columns.join(',')}\n`);

  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: unknown[][] = [];
    await parquetRead({
      file: buffer,
      metadata,
      columns,
      rowStart,
      rowEnd,
      utf8: false,
      // Columns annotated as UTF8 are decoded by hyparquet's lenient TextDecoder
      // unless this parser hands the bytes over unchanged for the strict check below.
      parsers: { stringFromBytes: (bytes: Uint8Array) => bytes },
      onComplete: (result: unknown[][]) => {
        rows = result;
      },
    });

    const lines: string[] = [];
    rows.forEach((row, index) => lines.push(csvLine(row, columns, rowStart + index + 1)));
    yield Buffer.from(lines.join(''), 'utf8');
    rowStart = rowEnd;
  }
}

function csvLine(row: unknown[], columns: ChunkColumn[], rowNumber: number): string {
  const fields = row.map((value, index) => {
    const column = columns[index]!;
    if (value === null || value === undefined) return '';
    if (TEXT_COLUMNS.has(column)) return quoteText(value, column, rowNumber);
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);

    // A value of the wrong type (text in a size column, say) is passed on quoted,
    // so COPY rejects it with the row and column like a bad CSV value.
    return quoteText(value, column, rowNumber);
  });
  return `${fields.join(',')}\n`;
}

function quoteText(value: unknown, column: string, rowNumber: number): string {
  let text: string;
  if (value instanceof Uint8Array) {
    if (value.includes(0)) throw rowError(rowNumber, column, 'contains a NUL byte');
    try {
      text = strictUtf8.decode(value);
    } catch {
      // TextDecoder's fatal mode raises a TypeError without details; the row and column locate the value.
      throw rowError(rowNumber, column, 'is not valid UTF-8');
    }
  } else {
    text = String(value);
    if (text.includes('\u0000')) throw rowError(rowNumber, column, 'contains a NUL byte');
  }
  return `"${text.replaceAll('"', '""')}"`;
}

function rowError(row: number, column: string, problem: string): StrataError {
  return StrataError.invalid('INVALID_CHUNK_ROW', `chunk rejected at row ${row}, column ${column}: the value ${problem}; no row of this chunk was kept`, {
    row,
    column,
  });
}
