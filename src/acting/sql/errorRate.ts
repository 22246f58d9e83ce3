/**
 * For each share in `$1` that is not paused: its latest `$2` tiering results since the
 * last resume and how many of them failed. Also the failure rate that stops it, from the
 * share's policy, else the tenant default policy (`*`), else `$3`. Recall results do not
 * count, because a failed recall leaves the stub as it was and the stop does not pause
 * recalls.
 */
export const SHARE_FAILURE_RATES = `
  SELECT s.share_name, w.results, w.failures,
         coalesce(p.max_failure_rate, dp.max_failure_rate, $3::real)::float8 AS max_rate
    FROM unnest($1::text[]) AS s(share_name)
    LEFT JOIN share_acting a ON a.share_name = s.share_name
    LEFT JOIN tier_policy p ON p.share_name = s.share_name
    LEFT JOIN tier_policy dp ON dp.share_name = '*'
   CROSS JOIN LATERAL (
         SELECT count(*) AS results, count(*) FILTER (WHERE r.outcome = 'FAILED') AS failures
           FROM (SELECT outcome FROM tier_result_log r
                  WHERE r.share_name = s.share_name AND r.kind = 'tier'
                    AND r.result_id > coalesce(a.window_start_result_id, 0)
                  ORDER BY r.result_id DESC
                  LIMIT $2) r) w
   WHERE a.paused_at IS NULL`;

/** Pause share `$1` with reason `$2` at `$3`, unless it is paused already; returns the row when it paused. */
export const PAUSE_SHARE = `
  INSERT INTO share_acting (share_name, paused_at, paused_reason) VALUES ($1, $3, $2)
  ON CONFLICT (share_name) DO UPDATE SET paused_at = EXCLUDED.paused_at, paused_reason = EXCLUDED.paused_reason
   WHERE share_acting.paused_at IS NULL
  RETURNING share_name`;

/**
 * Resume share `$1`: clear the pause and restart the failure window after the latest
 * result, so the failures that caused the pause do not pause it again at once.
 */
export const RESUME_SHARE = `
  UPDATE share_acting
     SET paused_at = NULL, paused_reason = NULL, resumed_at = $2, resumed_by = $3,
         window_start_result_id = coalesce((SELECT max(result_id) FROM tier_result_log WHERE share_name = $1), 0)
   WHERE share_name = $1 AND paused_at IS NOT NULL
  RETURNING share_name`;

/** Every share with acting state or results, with its pause and its tiering counts since the last resume. */
export const SHARE_ACTING_STATUS = `
  WITH shares AS (
    SELECT share_name FROM share_acting UNION SELECT DISTINCT share_name FROM tier_object)
  SELECT s.share_name, a.paused_at, a.paused_reason, a.resumed_at, a.resumed_by,
         (SELECT count(*) FROM tier_object t WHERE t.share_name = s.share_name AND t.state = 'PLANNED') AS planned,
         (SELECT count(*) FROM tier_object t WHERE t.share_name = s.share_name AND t.state IN ('IN_PROGRESS', 'RECALLING')) AS leased,
         (SELECT count(*) FROM tier_result_log r
           WHERE r.share_name = s.share_name AND r.kind = 'tier' AND r.result_id > coalesce(a.window_start_result_id, 0)) AS results,
         (SELECT count(*) FROM tier_result_log r
           WHERE r.share_name = s.share_name AND r.kind = 'tier' AND r.result_id > coalesce(a.window_start_result_id, 0)
             AND r.outcome = 'FAILED') AS failures
    FROM shares s
    LEFT JOIN share_acting a ON a.share_name = s.share_name
   ORDER BY s.share_name`;
