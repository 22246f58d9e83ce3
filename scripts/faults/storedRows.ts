/**
 * The one place where the fault run reads what ingest stored. Only this query reads the
 * storage tables, so a change to them means a change here and nowhere else in the run.
 */
import type pg from 'pg';
import { rowKey } from './faultTree.ts';

/** Folder path given to a stored file whose folder row is missing, so it matches no sent row. */
export const MISSING_FOLDER = '<no folder row>';

export interface StoredScan {
  scanGuid: string;
  /** The scan's status (OPEN, COMPLETING, OK, FAILED). */
  status: string;
  /** One `rowKey(dir_path, name)` per stored file row, duplicates kept. */
  keys: string[];
}

/**
 * Read every scan of one tenant schema with its stored file rows, as the superuser, so
 * row-level security does not filter them. Today a scan's rows are in `<schema>.file`,
 * whose folder is found in `<schema>.dir` by share and 64-bit path hash.
 */
export async function readStoredRows(pool: pg.Pool, schema: string): Promise<Map<string, StoredScan>> {
  const quoted = `"${schema.replaceAll('"', '""')}"`;
  const { rows } = await pool.query<{ scan_guid: string; status: string; dir_path: string | null; name: string | null }>(
    `SELECT s.scan_guid::text AS scan_guid, s.status, d.dir_path, f.name
       FROM ${quoted}.scan s
       LEFT JOIN ${quoted}.file f ON f.scan_id = s.scan_id
       LEFT JOIN ${quoted}.dir d ON d.share_name = s.share_name AND d.dir_hash = f.dir_hash`,
  );

  const scans = new Map<string, StoredScan>();
  for (const row of rows) {
    let scan = scans.get(row.scan_guid);
    if (scan === undefined) {
      scan = { scanGuid: row.scan_guid, status: row.status, keys: [] };
      scans.set(row.scan_guid, scan);
    }
    // A scan without files comes back once, with no file columns.
    if (row.name !== null) scan.keys.push(rowKey(row.dir_path ?? MISSING_FOLDER, row.name));
  }
  return scans;
}
