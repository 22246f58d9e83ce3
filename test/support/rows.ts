import type { Stack } from './stack.ts';

/** Row counts of the ingest tables of one tenant schema, read as the superuser. */
export async function ingestCounts(stack: Stack, schema: string): Promise<{ chunks: number; files: number; dirs: number }> {
  const { rows } = await stack.services.pool.query(
    `SELECT (SELECT count(*) FROM ${schema}.ingest_chunk)::int AS chunks,
            (SELECT count(*) FROM ${schema}.file)::int AS files,
            (SELECT count(*) FROM ${schema}.dir)::int AS dirs`,
  );
  return rows[0];
}

/** List every file of one scan as `dir_path|name|size|atime|mtime|ctime`, sorted. */
export async function fileRows(stack: Stack, schema: string, scanGuid: string): Promise<string[]> {
  const { rows } = await stack.services.pool.query(
    `SELECT d.dir_path, f.name, f.size_bytes, f.atime_unix, f.mtime_unix, f.ctime_unix
       FROM ${schema}.file f
       JOIN ${schema}.scan s ON s.scan_id = f.scan_id
       JOIN ${schema}.dir d ON d.share_name = s.share_name AND d.dir_hash = f.dir_hash
      WHERE s.scan_guid = $1`,
    [scanGuid],
  );
  return rows.map((row) => [row.dir_path, row.name, row.size_bytes, row.atime_unix, row.mtime_unix, row.ctime_unix].join('|')).sort();
}
