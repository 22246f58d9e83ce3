/**
 * A finished scan's totals in one pass over its partition: files, bytes, distinct
 * folders, and files whose access time cannot be real (at or before creation, or
 * before the last modification). `$1` scan id. Grouping by the 64-bit folder hash keeps
 * the hash table small.
 */
export const SCAN_TOTALS = `
  SELECT count(*) AS dirs, coalesce(sum(files), 0)::bigint AS files, coalesce(sum(bytes), 0)::bigint AS bytes,
         coalesce(sum(suspect), 0)::bigint AS atime_suspect
    FROM (SELECT dir_hash, count(*) AS files, sum(size_bytes) AS bytes,
                 count(*) FILTER (WHERE atime_unix <= ctime_unix OR atime_unix < mtime_unix) AS suspect
            FROM file WHERE scan_id = $1 GROUP BY dir_hash) AS per_dir`;

/**
 * OK scans of share `$1` beyond the newest `$2`, oldest first: the snapshots that
 * retention expires.
 */
export const SCANS_TO_EXPIRE = `
  SELECT scan_id FROM scan
   WHERE share_name = $1 AND status = 'OK'
   ORDER BY finished_at DESC, scan_id DESC
  OFFSET $2`;
