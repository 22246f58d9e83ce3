/**
 * Set-based normalisation of one staged chunk. `$1` scan id, `$2` chunk sequence,
 * `$3` share name. Paths are hashed as UTF-8 bytes with `convert_to`: a `::bytea` cast
 * would read the backslashes of Windows paths as escape sequences.
 */

/** Add the chunk's new directories, in hash order so concurrent runs lock alike. */
export const INSERT_DIRS = `
  INSERT INTO dir (share_name, dir_path, path_sha256)
  SELECT $3, paths.dir_path, sha256(convert_to(paths.dir_path, 'UTF8'))
    FROM (SELECT DISTINCT dir_path FROM staging_file WHERE scan_id = $1 AND chunk_seq = $2) AS paths
   ORDER BY 3
  ON CONFLICT (share_name, path_sha256) DO NOTHING`;

/** Insert the chunk's files; a file listed twice in one scan is kept once. */
export const INSERT_FILES = `
  INSERT INTO file (scan_id, dir_id, name, size_bytes, atime_unix, mtime_unix, ctime_unix, frn, attributes)
  SELECT s.scan_id, d.dir_id, s.name, s.size_bytes, s.atime_unix, s.mtime_unix, s.ctime_unix, s.frn, s.attributes
    FROM staging_file s
    JOIN dir d ON d.share_name = $3 AND d.path_sha256 = sha256(convert_to(s.dir_path, 'UTF8'))
   WHERE s.scan_id = $1 AND s.chunk_seq = $2
  ON CONFLICT (scan_id, dir_id, name) DO NOTHING`;

export const DELETE_STAGED = 'DELETE FROM staging_file WHERE scan_id = $1 AND chunk_seq = $2';
