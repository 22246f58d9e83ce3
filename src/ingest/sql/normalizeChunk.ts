/**
 * Set-based normalisation of one staged chunk. `$1` scan id, `$2` chunk sequence,
 * `$3` share name. A folder is identified within its share by the 64-bit
 * `hashtextextended(dir_path, 0)` of its canonical path, so files need no join to
 * find their folder.
 */

/**
 * A staged folder path without the Win32 long-path prefix: `\\?\C:\x` is the folder
 * `C:\x`, and `\\?\UNC\server\share\x` is `\\server\share\x`. A file reported in both
 * forms is then one file. POSIX paths start with `/` and pass unchanged.
 */
const CANONICAL_DIR = (column: string) => `
  CASE WHEN left(${column}, 8) = '\\\\?\\UNC\\' THEN '\\' || substr(${column}, 8)
       WHEN left(${column}, 4) = '\\\\?\\' THEN substr(${column}, 5)
       ELSE ${column} END`;

/**
 * Add the chunk's new folders in hash order. Concurrent chunks of one share then wait
 * on each other's uncommitted folders in the same order, so they cannot deadlock.
 */
export const INSERT_DIRS = `
  INSERT INTO dir (share_name, dir_path, dir_hash)
  SELECT $3, paths.dir_path, hashtextextended(paths.dir_path, 0)
    FROM (SELECT DISTINCT ${CANONICAL_DIR('dir_path')} AS dir_path FROM staging_file WHERE scan_id = $1 AND chunk_seq = $2) AS paths
   ORDER BY 3
  ON CONFLICT (share_name, dir_hash) DO NOTHING`;

/**
 * Return a folder path of the chunk whose hash belongs to a different stored path. By
 * the birthday bound, two of n folders in a share collide with odds near n²/2^65,
 * about 3 in a million for 10 million folders. When it happens the chunk fails loudly
 * instead of filing one folder's files under the other.
 */
export const FIND_HASH_COLLISION = `
  SELECT paths.dir_path
    FROM (SELECT DISTINCT ${CANONICAL_DIR('dir_path')} AS dir_path FROM staging_file WHERE scan_id = $1 AND chunk_seq = $2) AS paths
    JOIN dir d ON d.share_name = $3 AND d.dir_hash = hashtextextended(paths.dir_path, 0)
   WHERE d.dir_path <> paths.dir_path
   LIMIT 1`;

/** Insert the chunk's files; a file listed twice in one scan is kept once. */
export const INSERT_FILES = `
  INSERT INTO file (scan_id, dir_hash, name, size_bytes, atime_unix, mtime_unix, ctime_unix, frn, attributes)
  SELECT scan_id, hashtextextended(${CANONICAL_DIR('dir_path')}, 0), name, size_bytes, atime_unix, mtime_unix, ctime_unix, frn, attributes
    FROM staging_file
   WHERE scan_id = $1 AND chunk_seq = $2
  ON CONFLICT (scan_id, dir_hash, name) DO NOTHING`;

export const DELETE_STAGED = 'DELETE FROM staging_file WHERE scan_id = $1 AND chunk_seq = $2';
