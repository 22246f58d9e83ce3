/**
 * Add the folders staged for scan `$3` that share `$2` lacks, once each, in hash order:
 * one pass along the share's part of the primary key instead of 50,000 scattered leaf
 * pages per chunk. `$1` tenant id. Two chunks of a scan may stage the same folder, and
 * two different folders with one hash keep only one path here; FOLDER_COLLISION finds
 * the other. Hash order also makes two scans of a share that finish together wait on
 * each other in one order, without deadlock. A plain insert costs less than one with
 * `ON CONFLICT`. The caller runs it in a savepoint, and falls back to
 * ADD_STAGED_FOLDERS_AFTER_RACE when the other scan added one of the folders first.
 */
export const ADD_STAGED_FOLDERS = `
  INSERT INTO dir (tenant_id, share_name, dir_path, dir_hash)
  SELECT DISTINCT ON (s.dir_hash) $1::uuid, $2, s.dir_path, s.dir_hash
    FROM scan_dir s
   WHERE s.scan_id = $3
     AND NOT EXISTS (SELECT 1 FROM dir d WHERE d.share_name = $2 AND d.dir_hash = s.dir_hash)
   ORDER BY s.dir_hash`;

/** ADD_STAGED_FOLDERS that skips the folders another scan added meanwhile. */
export const ADD_STAGED_FOLDERS_AFTER_RACE = `${ADD_STAGED_FOLDERS}
  ON CONFLICT (share_name, dir_hash) DO NOTHING`;

/**
 * Add every folder staged for scan `$3` to share `$2`, which stored none when the merge
 * began: each distinct path once, in hash order. `$1` tenant id. No collision check is
 * needed after it. The unique key of `dir` on `(share_name, dir_hash)` fails the insert
 * when two staged paths share a hash, or when another scan added a folder of one of the
 * hashes meanwhile. When it succeeds, each staged path is the only one of its hash in
 * the share. The caller runs it in a savepoint and takes the general path on that failure.
 */
export const ADD_FIRST_FOLDERS = `
  INSERT INTO dir (tenant_id, share_name, dir_path, dir_hash)
  SELECT DISTINCT ON (s.dir_hash, s.dir_path) $1::uuid, $2, s.dir_path, s.dir_hash
    FROM scan_dir s
   WHERE s.scan_id = $3
   ORDER BY s.dir_hash, s.dir_path`;

/**
 * A folder staged for scan `$2` whose hash share `$1` stores under another path: a
 * 64-bit hash collision, with a folder stored before or with another folder of the same
 * scan, whichever ADD_STAGED_FOLDERS kept. By the birthday bound two of n folders in a
 * share share a hash with odds near n²/2^65, about 3 in a million for 10 million
 * folders. Paths are compared as they are, exactly.
 */
export const FOLDER_COLLISION = `
  SELECT s.dir_path AS path, d.dir_path AS other
    FROM scan_dir s JOIN dir d ON d.share_name = $1 AND d.dir_hash = s.dir_hash
   WHERE s.scan_id = $2 AND d.dir_path <> s.dir_path
   LIMIT 1`;

/**
 * Compare every folder staged for scan `$2` with what share `$1` stores, in one join.
 * `missing` counts the staged rows whose hash is not stored, and `missing_hashes` lists
 * up to `$3` of their hashes. `collisions` pairs each staged path with the different
 * stored path of its hash. A rescan usually finds every folder stored, and then this
 * one join replaces the anti-join of ADD_STAGED_FOLDERS and the join of FOLDER_COLLISION.
 */
export const PROBE_STAGED_FOLDERS = `
  SELECT count(*) FILTER (WHERE d.dir_hash IS NULL) AS missing,
         (array_agg(s.dir_hash) FILTER (WHERE d.dir_hash IS NULL))[1:$3] AS missing_hashes,
         array_agg(ARRAY[s.dir_path, d.dir_path]) FILTER (WHERE d.dir_path <> s.dir_path) AS collisions
    FROM scan_dir s LEFT JOIN dir d ON d.share_name = $1 AND d.dir_hash = s.dir_hash
   WHERE s.scan_id = $2`;

/**
 * ADD_STAGED_FOLDERS for the hashes in `$4` only, which PROBE_STAGED_FOLDERS found
 * missing. Another scan of the share may have added some since: the caller falls back to
 * ADD_LISTED_FOLDERS_AFTER_RACE, as for ADD_STAGED_FOLDERS.
 */
export const ADD_LISTED_FOLDERS = `
  INSERT INTO dir (tenant_id, share_name, dir_path, dir_hash)
  SELECT DISTINCT ON (s.dir_hash) $1::uuid, $2, s.dir_path, s.dir_hash
    FROM scan_dir s
   WHERE s.scan_id = $3 AND s.dir_hash = ANY($4::bigint[])
   ORDER BY s.dir_hash`;

/** ADD_LISTED_FOLDERS that skips the folders another scan added meanwhile. */
export const ADD_LISTED_FOLDERS_AFTER_RACE = `${ADD_LISTED_FOLDERS}
  ON CONFLICT (share_name, dir_hash) DO NOTHING`;

/**
 * FOLDER_COLLISION for the hashes in `$3` only. After PROBE_STAGED_FOLDERS compared the
 * other staged folders with `dir`, only the ones just added can still collide: with each
 * other, or with a folder another scan added meanwhile.
 */
export const LISTED_FOLDER_COLLISION = `
  SELECT s.dir_path AS path, d.dir_path AS other
    FROM scan_dir s JOIN dir d ON d.share_name = $1 AND d.dir_hash = s.dir_hash
   WHERE s.scan_id = $2 AND s.dir_hash = ANY($3::bigint[]) AND d.dir_path <> s.dir_path
   LIMIT 1`;
