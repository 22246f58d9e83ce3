import { StrataError } from '../errors.ts';
import { OPTIONAL_CHUNK_COLUMNS, REQUIRED_CHUNK_COLUMNS, type ChunkColumn } from '../wire/contract.ts';

const ALLOWED: ReadonlySet<string> = new Set([...REQUIRED_CHUNK_COLUMNS, ...OPTIONAL_CHUNK_COLUMNS]);

/** Maximum header line length read before giving up; a valid header is under 100 bytes. */
export const MAX_HEADER_BYTES = 4096;

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export interface ParsedHeader {
  columns: ChunkColumn[];
  /** The body from the header line on, without a UTF-8 byte order mark. */
  firstBytes: Buffer;
}

/**
 * Read a chunk's header line from the start of its decompressed body and check it:
 * every required column once, optional ones at most once, nothing else. Returns the
 * column order for the COPY statement and the bytes consumed so far.
 */
export async function readChunkHeader(body: AsyncIterator<Buffer>): Promise<ParsedHeader> {
  let buffered = Buffer.alloc(0);
  let newline = -1;

  while (newline < 0) {
    const next = await body.next();
    if (next.done) break;
    buffered = Buffer.concat([buffered, next.value]);
    newline = buffered.indexOf(0x0a);
    if (newline < 0 && buffered.length > MAX_HEADER_BYTES) break;
  }

  if (buffered.subarray(0, 3).equals(UTF8_BOM)) {
    buffered = buffered.subarray(3);
    newline -= 3;
  }
  if (newline < 0 && buffered.length > MAX_HEADER_BYTES) {
    throw headerError(`the header line is longer than ${MAX_HEADER_BYTES} bytes`);
  }

  const line = (newline < 0 ? buffered : buffered.subarray(0, newline)).toString('utf8').replace(/\r$/, '');
  return { columns: parseColumns(line), firstBytes: buffered };
}

function parseColumns(line: string): ChunkColumn[] {
  if (line === '') throw headerError('the chunk is empty; the first line must be the CSV header');
  return checkColumns(headerFieldNames(line));
}

/** Split a CSV header line into its column names, unquoted, without checking them. */
export function headerFieldNames(line: string): string[] {
  return line.split(',').map((field) => field.trim().replace(/^"(.*)"$/, '$1'));
}

/** Check chunk column names: each required one once, optional ones at most once, nothing else. */
export function checkColumns(names: string[]): ChunkColumn[] {
  const seen = new Set<string>();

  for (const name of names) {
    if (!ALLOWED.has(name)) {
      throw headerError(`unknown column ${JSON.stringify(name.slice(0, 64))} in the header; allowed: ${[...ALLOWED].join(', ')}`);
    }
    if (seen.has(name)) throw headerError(`column ${name} appears twice in the header`);
    seen.add(name);
  }

  const missing = REQUIRED_CHUNK_COLUMNS.filter((name) => !seen.has(name));
  if (missing.length > 0) throw headerError(`the header lacks required column(s): ${missing.join(', ')}`);
  return names as ChunkColumn[];
}

function headerError(message: string): StrataError {
  return StrataError.invalid('INVALID_CHUNK_HEADER', message, { line: 1 });
}
