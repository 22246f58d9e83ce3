import { PLACEHOLDER_ATTRIBUTES } from '../../../tenant-template/migrations/T0003_plan_keys_and_paths.ts';
import { LATEST_SCANS } from './latestScans.ts';

/**
 * The files a plan selects, as CTEs ending in `chosen`. Parameters:
 * - `$1` share, or NULL for all;
 * - `$2` the effective policy per share as a JSON array of
 *   `{share_name, cutoff, basis, min_size, include, exclude}`. `include` and `exclude`
 *   are PostgreSQL regular expressions over the full path. `basis` picks the time
 *   compared with `cutoff`: `access`, `modification` or `later` (the later of the two,
 *   so a file modified within the threshold is never planned);
 * - `$3` maximum files and `$4` maximum bytes of this plan.
 *
 * Cloud placeholders, whose content is not on the disk, are never selected. A file
 * whose tier object has moved on (being tiered, stubbed, being recalled) is not
 * selected; a FAILED one is selected again, and a STALE or REHYDRATED one when a newer
 * scan shows it cold. The limits keep the least recently used files first. The full
 * path joins folder and name with the scan's own separator.
 */
const SELECTION = `
  latest AS (${LATEST_SCANS}),
  policy AS (
    SELECT * FROM jsonb_to_recordset($2::jsonb)
      AS p(share_name text, cutoff bigint, basis text, min_size bigint, include text[], exclude text[])),
  candidate AS (
    SELECT l.share_name, f.scan_id, f.dir_hash, f.name, d.dir_path, p.full_path, f.size_bytes,
           f.atime_unix, f.mtime_unix, f.frn, u.used_at
      FROM latest l
      JOIN policy pol ON pol.share_name = l.share_name
      JOIN file f ON f.scan_id = l.scan_id
      JOIN dir d ON d.share_name = l.share_name AND d.dir_hash = f.dir_hash
     CROSS JOIN LATERAL (
           SELECT CASE WHEN l.path_style = 'windows' THEN '\\' ELSE '/' END AS sep) s
     CROSS JOIN LATERAL (
           SELECT CASE WHEN right(d.dir_path, 1) = s.sep THEN d.dir_path || f.name
                       ELSE d.dir_path || s.sep || f.name END AS full_path) p
     CROSS JOIN LATERAL (
           SELECT CASE pol.basis WHEN 'access' THEN f.atime_unix
                                 WHEN 'modification' THEN f.mtime_unix
                                 ELSE greatest(f.atime_unix, f.mtime_unix) END AS used_at) u
     WHERE u.used_at <= pol.cutoff
       AND f.size_bytes >= pol.min_size
       AND coalesce(f.attributes, 0) & ${PLACEHOLDER_ATTRIBUTES} = 0
       AND (cardinality(pol.include) = 0 OR p.full_path ~ ANY (pol.include))
       AND NOT (p.full_path ~ ANY (pol.exclude))
       AND NOT EXISTS (
             SELECT 1 FROM tier_object t
              WHERE t.share_name = l.share_name AND t.dir_hash = f.dir_hash AND t.name = f.name
                AND NOT (t.state IN ('PLANNED', 'FAILED')
                         OR (t.state IN ('STALE', 'REHYDRATED') AND t.scan_id < f.scan_id)))),
  ranked AS (
    SELECT c.*,
           row_number() OVER oldest_first AS position,
           sum(c.size_bytes) OVER oldest_first AS running_bytes
      FROM candidate c
    WINDOW oldest_first AS (ORDER BY c.used_at, c.share_name, c.dir_hash, c.name)),
  chosen AS (
    SELECT * FROM ranked WHERE position <= $3 AND running_bytes <= $4)`;

/**
 * Preview of applying the plan, without writing. It returns the files and bytes the
 * plan would contain and how many are not PLANNED yet. It also counts the PLANNED rows
 * it would drop and the candidates the limits leave out, and lists the folders with
 * the most bytes (`$5` of them).
 */
export const PREVIEW_PLAN = `
  WITH ${SELECTION}
  SELECT (SELECT count(*) FROM chosen) AS files,
         (SELECT coalesce(sum(size_bytes), 0)::bigint FROM chosen) AS bytes,
         (SELECT count(*) FROM chosen c
           WHERE NOT EXISTS (SELECT 1 FROM tier_object t
                              WHERE t.share_name = c.share_name AND t.dir_hash = c.dir_hash AND t.name = c.name
                                AND t.state = 'PLANNED')) AS newly_planned,
         (SELECT count(*) FROM tier_object t
            JOIN policy pol ON pol.share_name = t.share_name
           WHERE t.state = 'PLANNED'
             AND NOT EXISTS (SELECT 1 FROM chosen c
                              WHERE c.share_name = t.share_name AND c.dir_hash = t.dir_hash AND c.name = t.name)) AS dropped,
         (SELECT count(*) FROM candidate) - (SELECT count(*) FROM chosen) AS over_limit,
         (SELECT coalesce(json_agg(top ORDER BY top.bytes DESC, top.dir_path), '[]')
            FROM (SELECT share_name, dir_path, count(*) AS files, sum(size_bytes)::bigint AS bytes
                    FROM chosen
                   GROUP BY share_name, dir_path
                   ORDER BY bytes DESC, dir_path
                   LIMIT $5) top) AS top_dirs`;

/**
 * Write the plan: insert or refresh a PLANNED row per chosen file, stamped with this
 * run (`$5`) and its author (`$6`). Rows that left PLANNED are not touched, except
 * those the selection takes back (FAILED, and STALE or REHYDRATED after a newer scan).
 */
export const APPLY_PLAN = `
  WITH ${SELECTION}
  INSERT INTO tier_object (share_name, scan_id, dir_hash, name, full_path, size_bytes, atime_unix, mtime_unix, frn, planned_by, plan_run)
  SELECT share_name, scan_id, dir_hash, name, full_path, size_bytes, atime_unix, mtime_unix, frn, $6, $5
    FROM chosen
  ON CONFLICT (share_name, dir_hash, name) DO UPDATE
     SET scan_id = EXCLUDED.scan_id, full_path = EXCLUDED.full_path, size_bytes = EXCLUDED.size_bytes,
         atime_unix = EXCLUDED.atime_unix, mtime_unix = EXCLUDED.mtime_unix, frn = EXCLUDED.frn,
         plan_run = EXCLUDED.plan_run, state = 'PLANNED', planned_by = EXCLUDED.planned_by
   WHERE tier_object.state IN ('PLANNED', 'FAILED')
      OR (tier_object.state IN ('STALE', 'REHYDRATED') AND tier_object.scan_id < EXCLUDED.scan_id)`;

/**
 * Drop PLANNED rows of the planned shares (`$1`) that this run (`$2`) did not select:
 * the file was used or changed within the threshold, is gone, is excluded now, or fell
 * outside the limits. Nothing has been done to them yet, so dropping loses nothing.
 */
export const DROP_STALE_PLANS = `
  DELETE FROM tier_object
   WHERE share_name = ANY ($1::text[]) AND state = 'PLANNED' AND plan_run IS DISTINCT FROM $2::uuid`;

/** Serialises plans of one tenant, so two applies never drop each other's rows. */
export const LOCK_PLANNING = "SELECT pg_advisory_xact_lock(hashtextextended('strata.plan:' || current_schema(), 0))";

/** Roots of the tenant's filesystem Tier-2 targets, which no plan may select files from. */
export const TIER2_FOLDERS = `
  SELECT DISTINCT settings->>'root' AS root FROM tier_target WHERE kind = 'fs' AND settings ? 'root'`;
