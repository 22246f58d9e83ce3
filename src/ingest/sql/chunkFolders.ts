import { FOLDER_CHECK_SEED } from '../folderHash.ts';

/**
 * Sort a chunk's folders into those the share lacks and those whose stored path is not
 * the chunk's: `$1` share, `$2` the folders' hashes, `$3` their check values (both
 * computed in Node, see folderHash.ts). Returns the 1-based positions in `$2` of the
 * missing folders and of the collisions.
 *
 * Only numbers cross the wire either way. A rescan finds almost every folder stored, so
 * returning each found folder's path made Node parse and compare 50,000 paths per chunk
 * that are nearly always equal. A stored path that differs from the chunk's is a 64-bit
 * hash collision, which the check value catches. By the birthday bound two of n folders
 * in a share share a hash with odds near n²/2^65, about 3 in a million for 10 million
 * folders; that such a pair also shares the 32-bit check has odds of 1 in 4 billion
 * more. When it happens the chunk fails loudly instead of filing one folder's files
 * under the other.
 *
 * The stored folders are found with `= ANY`, a probe of the primary key per hash in
 * index order, and only then joined to the chunk's list: a nested loop over the list
 * took half as long again. `hashtextextended` is not leakproof, so it is computed on
 * the rows that RLS already let through, in the materialised CTE.
 */
export const SORT_CHUNK_FOLDERS = `
  WITH found AS MATERIALIZED (
    SELECT dir_hash, hashtextextended(dir_path, ${FOLDER_CHECK_SEED}) & 4294967295 AS check_value
      FROM dir WHERE share_name = $1 AND dir_hash = ANY($2::bigint[]))
  SELECT coalesce(array_agg(c.n::int) FILTER (WHERE f.dir_hash IS NULL), '{}') AS missing,
         coalesce(array_agg(c.n::int) FILTER (WHERE f.check_value <> c.check_value), '{}') AS collided
    FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS c (hash, check_value, n)
    LEFT JOIN found f ON f.dir_hash = c.hash`;

/** The stored path of folder `$2` of share `$1`, to name both sides of a collision. */
export const STORED_FOLDER_PATH = 'SELECT dir_path FROM dir WHERE share_name = $1 AND dir_hash = $2';

/**
 * Add the folders the lookup did not find. `$1` tenant id, `$2` share, `$3` paths, `$4`
 * their hashes. The ORDER BY inserts them in hash order, so two chunks of one share
 * that add the same folders wait on each other in one order and do not deadlock. A
 * plain insert costs less than one with `ON CONFLICT`; the caller runs it in a
 * savepoint and falls back to INSERT_CHUNK_FOLDERS_AFTER_RACE when another upload added
 * one of the folders since the lookup.
 */
export const INSERT_CHUNK_FOLDERS = `
  INSERT INTO dir (tenant_id, share_name, dir_path, dir_hash)
  SELECT $1::uuid, $2, f.path, f.hash FROM unnest($3::text[], $4::bigint[]) AS f (path, hash)
   ORDER BY f.hash`;

/**
 * INSERT_CHUNK_FOLDERS that skips the folders another upload added meanwhile. The
 * caller then sees a row count short of what it sent, and sorts those folders again.
 */
export const INSERT_CHUNK_FOLDERS_AFTER_RACE = `${INSERT_CHUNK_FOLDERS}
  ON CONFLICT (share_name, dir_hash) DO NOTHING`;
