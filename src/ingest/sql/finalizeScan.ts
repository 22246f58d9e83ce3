import { CANONICAL_DIR_SQL } from '../../../tenant-template/migrations/T0005_scan_partitions.ts';

/**
 * What a folder path of each style must look like: absolute, without a trailing
 * separator (except a drive root), without `.` or `..` segments, and without doubled
 * separators. A segment that starts with `/` is an escaped name (bytes that are not
 * UTF-8, written as `%XX`; see src/wire/), which POSIX paths show as `//`. Written
 * with LIKE and strpos rather than regular expressions, which cost several times more
 * per folder. LIKE patterns use no escape character, so `\` and `_` mean themselves
 * and any one character.
 */
const CANONICAL_WINDOWS = `
  ((p LIKE '_:\\%' ESCAPE '' AND upper(left(p, 1)) BETWEEN 'A' AND 'Z' COLLATE "C") OR p LIKE '\\\\_%\\_%' ESCAPE '')
  AND (p NOT LIKE '%\\' ESCAPE '' OR (p LIKE '_:\\' ESCAPE ''))
  AND strpos(p || '\\', '\\.\\') = 0
  AND strpos(p || '\\', '\\..\\') = 0
  AND strpos(substr(p, 2), '\\\\') = 0
  AND strpos(replace(p, '\\/', ''), '/') = 0`;

const CANONICAL_POSIX = `
  p LIKE '/%' ESCAPE ''
  AND (p = '/' OR p NOT LIKE '%/' ESCAPE '')
  AND strpos(p, '///') = 0
  AND strpos(p || '/', '/./') = 0
  AND strpos(p || '/', '/../') = 0`;

/**
 * One pass over a finished scan's partition, grouped by folder: add the share's new
 * folders to `dir`, and report the scan's totals and up to five problems. A problem is
 * two folder paths with the same 64-bit hash (within the scan, or against a stored
 * folder), or a new folder path that is not canonical for the scan's path style
 * (stored folders passed that check when they were added). When there is a problem
 * no folder is added and the caller fails the scan.
 *
 * `$1` scan id, `$2` share name, `$3` path style, `$4` tenant id. The caller holds the
 * share's finalisation lock, so no other scan of the share adds folders meanwhile and
 * a plain INSERT of the folders found missing cannot conflict. Paths compare bytewise
 * (COLLATE "C"): only equality matters here, and locale-aware comparison is slower.
 */
export const FINISH_SCAN_FOLDERS = `
  WITH per_dir AS MATERIALIZED (
    SELECT dir_hash, min(p) AS dir_path, max(p) AS other_path, count(*) AS files, sum(size_bytes) AS bytes
      FROM (SELECT dir_hash, (${CANONICAL_DIR_SQL('dir_path')}) COLLATE "C" AS p, size_bytes FROM file WHERE scan_id = $1) AS rows
     GROUP BY dir_hash),
  joined AS MATERIALIZED (
    SELECT p.dir_hash, p.dir_path, p.other_path, d.dir_path COLLATE "C" AS stored_path
      FROM per_dir p LEFT JOIN dir d ON d.share_name = $2 AND d.dir_hash = p.dir_hash),
  problems AS (
    SELECT * FROM (
      SELECT 'HASH_COLLISION' AS kind, dir_path, other_path FROM joined WHERE dir_path <> other_path
      UNION ALL
      SELECT 'HASH_COLLISION', dir_path, stored_path FROM joined WHERE stored_path <> dir_path
      UNION ALL
      SELECT 'NOT_CANONICAL', dir_path, NULL
        FROM joined, LATERAL (SELECT dir_path AS p) AS path
       WHERE stored_path IS NULL
         AND NOT CASE $3::text WHEN 'windows' THEN ${CANONICAL_WINDOWS} ELSE ${CANONICAL_POSIX} END
    ) AS found
    LIMIT 5),
  inserted AS (
    INSERT INTO dir (tenant_id, share_name, dir_path, dir_hash)
    SELECT $4::uuid, $2, dir_path, dir_hash FROM joined
     WHERE stored_path IS NULL AND NOT EXISTS (SELECT 1 FROM problems)
     ORDER BY dir_hash
    RETURNING 1)
  SELECT (SELECT count(*) FROM per_dir) AS dirs,
         (SELECT coalesce(sum(files), 0) FROM per_dir)::bigint AS files,
         (SELECT coalesce(sum(bytes), 0) FROM per_dir)::bigint AS bytes,
         (SELECT count(*) FROM inserted) AS new_dirs,
         (SELECT coalesce(json_agg(problems), '[]'::json) FROM problems) AS problems`;

/**
 * OK scans of share `$1` beyond the newest `$2`, oldest first: the snapshots that
 * retention expires.
 */
export const SCANS_TO_EXPIRE = `
  SELECT scan_id FROM scan
   WHERE share_name = $1 AND status = 'OK'
   ORDER BY finished_at DESC, scan_id DESC
  OFFSET $2`;
