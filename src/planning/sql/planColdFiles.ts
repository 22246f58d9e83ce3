import { PLACEHOLDER_ATTRIBUTES } from '../../../tenant-template/migrations/T0003_plan_keys_and_paths.ts';
import { LATEST_SCANS } from './latestScans.ts';

/**
 * Plan every file of the latest OK scans last used at or before `$2` (Unix seconds),
 * except cloud placeholders, whose content is not on the disk. A file's last use is the
 * later of its access and modification times: a file modified within the threshold is
 * never planned, even on a share whose access times are not maintained. `$1` share
 * or NULL, `$3` who planned it, `$4` this run's id. A file already PLANNED is brought
 * up to date with the latest scan and stamped with this run. Rows that have moved
 * past PLANNED (being moved, stubbed) are left alone. The full path joins folder and
 * name with the scan's own separator. Returns how many rows were new (`xmax = 0`
 * holds for a row this statement inserted, not for one it updated).
 */
export const PLAN_COLD_FILES = `
  WITH latest AS (${LATEST_SCANS}),
  upserted AS (
    INSERT INTO tier_object (share_name, scan_id, dir_hash, name, full_path, size_bytes, atime_unix, mtime_unix, frn, planned_by, plan_run)
    SELECT l.share_name, f.scan_id, f.dir_hash, f.name, p.full_path, f.size_bytes, f.atime_unix, f.mtime_unix, f.frn, $3, $4
      FROM latest l
      JOIN file f ON f.scan_id = l.scan_id
      JOIN dir d ON d.share_name = l.share_name AND d.dir_hash = f.dir_hash
     CROSS JOIN LATERAL (
           SELECT CASE WHEN l.path_style = 'windows' THEN '\\' ELSE '/' END AS sep) s
     CROSS JOIN LATERAL (
           SELECT CASE WHEN right(d.dir_path, 1) = s.sep THEN d.dir_path || f.name
                       ELSE d.dir_path || s.sep || f.name END AS full_path) p
     WHERE greatest(f.atime_unix, f.mtime_unix) <= $2
       AND coalesce(f.attributes, 0) & ${PLACEHOLDER_ATTRIBUTES} = 0
    ON CONFLICT (share_name, dir_hash, name) DO UPDATE
       SET scan_id = EXCLUDED.scan_id, full_path = EXCLUDED.full_path, size_bytes = EXCLUDED.size_bytes,
           atime_unix = EXCLUDED.atime_unix, mtime_unix = EXCLUDED.mtime_unix, frn = EXCLUDED.frn, plan_run = EXCLUDED.plan_run
     WHERE tier_object.state = 'PLANNED'
    RETURNING (xmax = 0) AS inserted)
  SELECT count(*) FILTER (WHERE inserted) AS inserted FROM upserted`;

/**
 * Drop PLANNED rows of the shares in scope that this run (`$2`) did not select: the
 * file was read or changed within the threshold, or is gone from the latest scan.
 * Nothing has been done to them yet, so dropping loses nothing.
 */
export const DROP_STALE_PLANS = `
  WITH latest AS (${LATEST_SCANS})
  DELETE FROM tier_object t
   USING latest l
   WHERE t.share_name = l.share_name AND t.state = 'PLANNED' AND t.plan_run IS DISTINCT FROM $2::uuid`;

/** Files and bytes in state PLANNED, in the same scope as the plan. */
export const PLANNED_TOTALS = `
  SELECT count(*) AS files, coalesce(sum(size_bytes), 0)::bigint AS bytes
    FROM tier_object
   WHERE state = 'PLANNED' AND ($1::text IS NULL OR share_name = $1::text)`;

/** The folders holding the most planned bytes; `$2` is how many to list. */
export const TOP_PLANNED_DIRS = `
  SELECT t.share_name, d.dir_path, count(*) AS files, sum(t.size_bytes)::bigint AS bytes
    FROM tier_object t
    JOIN dir d ON d.share_name = t.share_name AND d.dir_hash = t.dir_hash
   WHERE t.state = 'PLANNED' AND ($1::text IS NULL OR t.share_name = $1::text)
   GROUP BY t.share_name, d.dir_path
   ORDER BY bytes DESC, d.dir_path
   LIMIT $2`;
