import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parquetWriteBuffer } from 'hyparquet-writer';
import path from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { REQUIRED_CHUNK_COLUMNS } from '../../src/wire/contract.ts';
import { csvLine, type SyntheticRow } from './syntheticTree.ts';

export const HEADER_LINE = `${REQUIRED_CHUNK_COLUMNS.join(',')}\n`;

/** Write rows into gzip CSV chunk files of at most `chunkRows` rows, as the agent does; return their paths. */
export async function writeChunks(rows: Iterable<SyntheticRow>, folder: string, chunkRows: number): Promise<string[]> {
  const files: string[] = [];
  let gzip: ReturnType<typeof createGzip> | undefined;
  let finished: Promise<unknown> | undefined;
  let inChunk = 0;

  for (const row of rows) {
    const line = csvLine(row);
    if (!gzip || inChunk === chunkRows) {
      if (gzip) {
        gzip.end();
        await finished;
      }
      const file = path.join(folder, `chunk-${String(files.length).padStart(6, '0')}.csv.gz`);
      files.push(file);
      gzip = createGzip({ level: 6 });
      const out = createWriteStream(file);
      gzip.pipe(out);
      finished = once(out, 'finish');
      gzip.write(HEADER_LINE);
      inChunk = 0;
    }
    if (!gzip.write(line)) await once(gzip, 'drain');
    inChunk++;
  }
  if (gzip) {
    gzip.end();
    await finished;
  }
  return files;
}

/** Write rows into Parquet chunk files (one row group each) of at most `chunkRows` rows; return their paths. */
export async function writeParquetChunks(rows: Iterable<SyntheticRow>, folder: string, chunkRows: number): Promise<string[]> {
  const files: string[] = [];
  let batch: SyntheticRow[] = [];

  const flush = async (): Promise<void> => {
    const file = path.join(folder, `chunk-${String(files.length).padStart(6, '0')}.parquet`);
    const buffer = parquetWriteBuffer({
      rowGroupSize: chunkRows,
      columnData: [
        { name: 'dir_path', data: batch.map((row) => row.dirPath), type: 'STRING' },
        { name: 'name', data: batch.map((row) => row.name), type: 'STRING' },
        { name: 'size_bytes', data: batch.map((row) => BigInt(row.size)), type: 'INT64' },
        { name: 'atime_unix', data: batch.map((row) => BigInt(row.atime)), type: 'INT64' },
        { name: 'mtime_unix', data: batch.map((row) => BigInt(row.mtime)), type: 'INT64' },
        { name: 'ctime_unix', data: batch.map((row) => BigInt(row.ctime)), type: 'INT64' },
      ],
    });
    await writeFile(file, new Uint8Array(buffer));
    files.push(file);
    batch = [];
  };

  for (const row of rows) {
    batch.push(row);
    if (batch.length === chunkRows) await flush();
  }
  if (batch.length > 0) await flush();
  return files;
}
