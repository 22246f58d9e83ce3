/**
 * OK scans of share `$1` beyond the newest `$2`, oldest first: the snapshots that
 * retention expires.
 */
export const SCANS_TO_EXPIRE = `
  SELECT scan_id FROM scan
   WHERE share_name = $1 AND status = 'OK'
   ORDER BY finished_at DESC, scan_id DESC
  OFFSET $2`;

/**
 * Serialise the finishing of one share's scans, so "is a newer scan already OK?" and
 * the update that follows see the same state. `$1` share. The key is the tenant's
 * schema and the share, because advisory locks are shared by the whole cluster.
 */
export const LOCK_SHARE_FINISHING = `
  SELECT pg_advisory_xact_lock(hashtextextended('scan-finish:' || current_schema() || ':' || $1::text, 0))`;

/** Whether share `$1` has an OK scan opened after scan `$2`: a newer snapshot that finished first. */
export const NEWER_OK_SCAN = `
  SELECT newer.scan_id FROM scan newer, scan this
   WHERE this.scan_id = $2 AND newer.share_name = $1 AND newer.status = 'OK'
     AND (newer.opened_at, newer.scan_id) > (this.opened_at, this.scan_id)
   LIMIT 1`;

/**
 * Fail the OPEN scans of share `$1` opened before scan `$2`, which has just finished:
 * completing one later would make an older snapshot the latest. Returns their ids.
 */
export const SUPERSEDE_OLDER_OPEN_SCANS = `
  UPDATE scan older
     SET status = 'FAILED', finished_at = extract(epoch from clock_timestamp())::bigint,
         error = 'superseded by scan ' || this.scan_guid || ', which was opened later and finished first'
    FROM scan this
   WHERE this.scan_id = $2 AND older.share_name = $1 AND older.status = 'OPEN'
     AND (older.opened_at, older.scan_id) < (this.opened_at, this.scan_id)
  RETURNING older.scan_id`;

/** FAILED or EXPIRED scans of share `$1` whose partitions still exist: a drop that did not get its lock. */
export const PARTITIONS_LEFT_OVER = `
  SELECT scan_id FROM scan
   WHERE share_name = $1 AND status IN ('FAILED', 'EXPIRED')
     AND (to_regclass(format('%I.%I', current_schema(), 'file_s' || scan_id)) IS NOT NULL
          OR to_regclass(format('%I.%I', current_schema(), 'scan_dir_s' || scan_id)) IS NOT NULL)
   ORDER BY scan_id`;

/** OK scans of share `$1` that still have staged folders: a drop that did not get its lock, or a worker that died before it. */
export const STAGED_FOLDERS_LEFT_OVER = `
  SELECT scan_id FROM scan
   WHERE share_name = $1 AND status = 'OK'
     AND to_regclass(format('%I.%I', current_schema(), 'scan_dir_s' || scan_id)) IS NOT NULL
   ORDER BY scan_id`;

/** The share's (`$1`) latest OK scan with files, opened before scan `$2`. */
export const PREVIOUS_NONEMPTY_SCAN = `
  SELECT prev.scan_id, prev.file_count::text AS file_count FROM scan prev, scan this
   WHERE this.scan_id = $2 AND prev.share_name = $1 AND prev.status = 'OK' AND prev.file_count > 0
     AND (prev.opened_at, prev.scan_id) < (this.opened_at, this.scan_id)
   ORDER BY prev.opened_at DESC, prev.scan_id DESC
   LIMIT 1`;
