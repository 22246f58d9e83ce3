import { StrataError } from '../errors.ts';
import { isBadDataError, sqlStateOf } from '../db/sqlstate.ts';

/** Check constraints of a scan's partition of `file` that stand for a configurable limit. */
const LIMIT_CONSTRAINTS: Record<string, { column: string; limit: string }> = {
  name_within_limit: { column: 'name', limit: 'STRATA_MAX_NAME_CHARS' },
};

const CONSTRAINT_COLUMNS: Record<string, string> = {
  size_bytes_not_negative: 'size_bytes',
  name_is_one_path_segment: 'name',
  name_fits_path_style: 'name',
  frn_in_range: 'frn',
  attributes_in_range: 'attributes',
};

/** Meaning of each violated check, in words a client can act on. */
const CONSTRAINT_REASONS: Record<string, string> = {
  size_bytes_not_negative: 'size_bytes must not be negative',
  name_is_one_path_segment: 'name must be one path segment: not empty, not "." or "..", without "/" (except the leading "/" of an escaped name)',
  name_fits_path_style: 'a Windows file name must not contain "\\" or ":" (a name with ":" names an alternate data stream, which is not a file)',
  frn_in_range: 'frn must be from 0 to 2^64 - 1',
  attributes_in_range: 'attributes must be from 0 to 2^32 - 1',
};

interface PgError {
  message: string;
  where?: string;
  constraint?: string;
  column?: string;
}

/**
 * Turn a COPY failure caused by the client's data into a 422 that names the line and
 * column (from the error's CONTEXT, e.g. `COPY file_s12, line 3, column size_bytes`)
 * and, for a length limit, the setting that sets it. Other errors pass through.
 */
export function translateCopyError(
  error: unknown,
  format: 'csv' | 'parquet' = 'csv',
  sentLine: (copyLine: number) => number = (copyLine) => copyLine,
): unknown {
  if (!isBadDataError(sqlStateOf(error))) return error;

  const pgError = error as PgError;
  const where = pgError.where ?? '';
  const rewrittenLine = Number(/line (\d+)/.exec(where)?.[1]) || undefined;
  const copyLine = rewrittenLine && sentLine(rewrittenLine);
  // A Parquet chunk reaches COPY as CSV with a header line, so its row is one less.
  const line = format === 'csv' ? copyLine : undefined;
  const row = format === 'parquet' && copyLine ? copyLine - 1 : undefined;
  const limit = pgError.constraint ? LIMIT_CONSTRAINTS[pgError.constraint] : undefined;
  // The rows reach COPY with each folder's hash where the chunk had its path.
  const copyColumn = /column (\w+)/.exec(where)?.[1];
  const column =
    (copyColumn === 'dir_hash' ? 'dir_path' : copyColumn) ??
    limit?.column ??
    (pgError.constraint ? CONSTRAINT_COLUMNS[pgError.constraint] : undefined) ??
    pgError.column;

  const place = [line && `line ${line}`, row && `row ${row}`, column && `column ${column}`].filter(Boolean).join(', ');
  const reason = limit
    ? `value longer than ${limit.limit} allows`
    : (pgError.constraint && CONSTRAINT_REASONS[pgError.constraint]) || pgError.message;
  const message = `chunk rejected at ${place || 'an unknown row'}: ${reason}; no row of this chunk was kept`;

  return StrataError.invalid(limit ? 'LIMIT_EXCEEDED' : 'INVALID_CHUNK_ROW', message, { line, row, column, limit: limit?.limit }, error);
}

/** zlib's error codes all start with `Z_` (Z_DATA_ERROR, Z_BUF_ERROR, ...). */
export function translateBodyError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new StrataError('INVALID_GZIP', 'the chunk body is not a valid gzip stream; send it gzip-compressed or without Content-Encoding', 400, {}, { cause: error });
  }
  return error;
}
