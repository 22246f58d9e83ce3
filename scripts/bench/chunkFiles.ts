import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { REQUIRED_CHUNK_COLUMNS } from '../../src/wire/contract.ts';

export const HEADER_LINE = `${REQUIRED_CHUNK_COLUMNS.join(',')}\n`;

/** Write CSV lines into gzip chunk files of at most `chunkRows` rows, as the agent does; return their paths. */
export async function writeChunks(lines: Iterable<string>, folder: string, chunkRows: number): Promise<string[]> {
  const files: string[] = [];
  let gzip: ReturnType<typeof createGzip> | undefined;
  let finished: Promise<unknown> | undefined;
  let inChunk = 0;

  for (const line of lines) {
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
