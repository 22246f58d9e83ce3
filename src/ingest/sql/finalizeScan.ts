/**
 * A finished scan's totals in one pass over its partition: files, bytes and distinct
 * folders. `$1` scan id. Grouping by the 64-bit folder hash keeps the hash table small.
 */
export const SCAN_TOTALS = `
  SELECT count(*) AS dirs, coalesce(sum(files), 0)::bigint AS files, coalesce(sum(bytes), 0)::bigint AS bytes
    FROM (SELECT dir_hash, count(*) AS files, sum(size_bytes) AS bytes FROM file WHERE scan_id = $1 GROUP BY dir_hash) AS per_dir`;

/**
 * OK scans of share `$1` beyond the newest `$2`, oldest first: the snapshots that
 * retention expires.
 */
export const SCANS_TO_EXPIRE = `
  SELECT scan_id FROM scan
   WHERE share_name = $1 AND status = 'OK'
   ORDER BY finished_at DESC, scan_id DESC
  OFFSET $2`;
