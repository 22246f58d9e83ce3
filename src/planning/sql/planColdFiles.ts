import { LATEST_SCANS } from './latestScans.ts';

/**
 * Plan every file of the latest OK scans last accessed at or before `$2` (Unix
 * seconds). `$1` share or NULL, `$3` who planned it. A file already planned keeps its
 * row, so running the plan again adds only files that were not planned before.
 * The full path joins folder and name with the scan's own separator.
 */
export const PLAN_COLD_FILES = `
  WITH latest AS (${LATEST_SCANS})
  INSERT INTO tier_object (share_name, scan_id, dir_id, name, full_path, path_sha256, size_bytes, atime_unix, mtime_unix, planned_by)
  SELECT l.share_name, f.scan_id, d.dir_id, f.name, p.full_path, sha256(convert_to(p.full_path, 'UTF8')),
         f.size_bytes, f.atime_unix, f.mtime_unix, $3
    FROM latest l
    JOIN file f ON f.scan_id = l.scan_id
    JOIN dir d ON d.share_name = l.share_name AND d.dir_hash = f.dir_hash
   CROSS JOIN LATERAL (
         SELECT CASE WHEN l.path_style = 'windows' THEN '\\' ELSE '/' END AS sep) s
   CROSS JOIN LATERAL (
         SELECT CASE WHEN right(d.dir_path, 1) = s.sep THEN d.dir_path || f.name
                     ELSE d.dir_path || s.sep || f.name END AS full_path) p
   WHERE f.atime_unix <= $2
  ON CONFLICT (share_name, path_sha256) DO NOTHING`;

/** Files and bytes in state PLANNED, per share in the same scope as the plan. */
export const PLANNED_TOTALS = `
  SELECT count(*) AS files, coalesce(sum(size_bytes), 0)::bigint AS bytes
    FROM tier_object
   WHERE state = 'PLANNED' AND ($1::text IS NULL OR share_name = $1::text)`;

/** The folders holding the most planned bytes; `$2` is how many to list. */
export const TOP_PLANNED_DIRS = `
  SELECT t.share_name, d.dir_path, count(*) AS files, sum(t.size_bytes)::bigint AS bytes
    FROM tier_object t
    JOIN dir d ON d.dir_id = t.dir_id
   WHERE t.state = 'PLANNED' AND ($1::text IS NULL OR t.share_name = $1::text)
   GROUP BY t.share_name, d.dir_path
   ORDER BY bytes DESC, d.dir_path
   LIMIT $2`;
