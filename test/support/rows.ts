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

/**
 * Count the rows stored for one scan so far, staged or normalised. Normalisation keeps a
 * file listed twice once, so a chunk loaded twice shows here only before it runs.
 */
export async function storedRowCount(stack: Stack, schema: string, scanGuid: string): Promise<number> {
  const { rows } = await stack.services.pool.query(
    `SELECT count(*)::int AS n FROM ${schema}.file f JOIN ${schema}.scan s ON s.scan_id = f.scan_id WHERE s.scan_guid = $1`,
    [scanGuid],
  );
  return rows[0].n;
}

/** Return the internal id of a scan, which job payloads carry. */
export async function scanIdOf(stack: Stack, schema: string, scanGuid: string): Promise<number> {
  const { rows } = await stack.services.pool.query(`SELECT scan_id FROM ${schema}.scan WHERE scan_guid = $1`, [scanGuid]);
  if (!rows[0]) throw new Error(`scan ${scanGuid} not found in ${schema}`);
  return Number(rows[0].scan_id);
}
