/**
 * Add a chunk's folders to `dir` in the upload's transaction. `$1` tenant id, `$2`
 * share, `$3` the chunk's distinct canonical folder paths. Folders go in hash order so
 * that two chunks of one share that add the same folders wait on each other in the
 * same order and cannot deadlock; a folder another upload holds uncommitted is waited
 * for, then skipped.
 */
export const INSERT_CHUNK_FOLDERS = `
  INSERT INTO dir (tenant_id, share_name, dir_path, dir_hash)
  SELECT $1::uuid, $2, p, hashtextextended(p, 0) FROM unnest($3::text[]) AS p
   ORDER BY 4
  ON CONFLICT (share_name, dir_hash) DO NOTHING`;

/**
 * A folder of the chunk whose 64-bit hash belongs to another stored path of the share.
 * By the birthday bound, two of n folders in a share collide with odds near n²/2^65,
 * about 3 in a million for 10 million folders. When it happens the chunk fails loudly
 * instead of filing one folder's files under the other. Run after INSERT_CHUNK_FOLDERS,
 * so two colliding folders within one chunk are caught too.
 *
 * Each folder is one probe of `dir`'s primary key. Under row-level security a condition
 * that calls a function which is not leakproof (hashtextextended is not) cannot be an
 * index condition, so the hashes are computed first in a materialised CTE and the probe
 * compares plain values. Written as a join on the function, each chunk took minutes.
 */
export const FIND_FOLDER_COLLISION = `
  WITH chunk AS MATERIALIZED (
    SELECT path, hashtextextended(path, 0) AS hash FROM unnest($2::text[]) AS path)
  SELECT c.path AS dir_path, stored.dir_path AS other_path
    FROM chunk c
   CROSS JOIN LATERAL (
         SELECT d.dir_path FROM dir d
          WHERE d.share_name = $1 AND d.dir_hash = c.hash AND d.dir_path <> c.path
          LIMIT 1) AS stored
   LIMIT 1`;
