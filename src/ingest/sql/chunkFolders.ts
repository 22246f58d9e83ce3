/**
 * Look up a chunk's folders in `dir`: `$1` share, `$2` the chunk's distinct canonical
 * folder paths, `$3` their hashes (computed in Node, equal to `hashtextextended(path,
 * 0)`). Returns each path with its stored path, or NULL when the share has no folder
 * with that hash yet. A stored path that differs is a 64-bit hash collision. By the
 * birthday bound, two of n folders in a share collide with odds near n²/2^65, about 3
 * in a million for 10 million folders. When it happens the chunk fails loudly instead
 * of filing one folder's files under the other.
 *
 * Each folder is one probe of `dir`'s primary key, on plain values: under row-level
 * security a condition that calls a function which is not leakproof could not be an
 * index condition.
 */
export const LOOK_UP_CHUNK_FOLDERS = `
  SELECT c.path, stored.dir_path AS stored_path
    FROM unnest($2::text[], $3::bigint[]) AS c (path, hash)
    LEFT JOIN LATERAL (
         SELECT d.dir_path FROM dir d WHERE d.share_name = $1 AND d.dir_hash = c.hash LIMIT 1) AS stored ON true`;

/**
 * Add the folders the lookup did not find. `$1` tenant id, `$2` share, `$3` paths, `$4`
 * their hashes. The ORDER BY inserts them in hash order, so two chunks of one share
 * that add the same folders wait on each other in one order and do not deadlock. A
 * folder that another upload added meanwhile is skipped, and the caller looks it up
 * again.
 */
export const INSERT_CHUNK_FOLDERS = `
  INSERT INTO dir (tenant_id, share_name, dir_path, dir_hash)
  SELECT $1::uuid, $2, f.path, f.hash FROM unnest($3::text[], $4::bigint[]) AS f (path, hash)
   ORDER BY f.hash
  ON CONFLICT (share_name, dir_hash) DO NOTHING
  RETURNING dir_path`;
