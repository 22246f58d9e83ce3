/**
 * The latest OK scan of each share, or of the one share named in `$1` (NULL for all).
 * Used as a CTE by the planner and the reports.
 */
export const LATEST_SCANS = `
  SELECT DISTINCT ON (share_name) scan_id, share_name, path_style, file_count, atime_suspect_count
    FROM scan
   WHERE status = 'OK' AND ($1::text IS NULL OR share_name = $1::text)
   ORDER BY share_name, finished_at DESC, scan_id DESC`;
