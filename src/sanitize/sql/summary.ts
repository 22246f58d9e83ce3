/** Findings and bytes per kind of run `$1`; bytes are the file's size, or the Tier-2 object's when there is no file. */
export const FINDING_TOTALS = `
  SELECT kind, count(*)::bigint AS findings, coalesce(sum(coalesce(size_bytes, tier2_size_bytes)), 0)::bigint AS bytes
    FROM sanitize_finding
   WHERE run_id = $1
   GROUP BY kind`;

/** The last finished run before run `$1` with the same share scope (`$2`, NULL for all shares). */
export const PREVIOUS_RUN = `
  SELECT run_id, summary
    FROM sanitize_run
   WHERE run_id < $1 AND status = 'DONE' AND share_name IS NOT DISTINCT FROM $2::text
   ORDER BY run_id DESC
   LIMIT 1`;
