/**
 * Apply a batch of results in one statement. Inputs are parallel arrays: `$1` ids,
 * `$2` fences, `$3` outcomes, `$4` hex SHA-256 or NULL, `$5` error text or NULL; `$6`
 * is now (Unix seconds) and `$7` the reporting token's id. Ids must be distinct.
 *
 * Each result gets a verdict:
 * - `apply`: the fence is the object's current one and the object is leased for the
 *   matching kind. The object moves to its new state and the result is logged.
 * - `duplicate`: this exact result was applied before; nothing changes.
 * - `conflict`: another outcome was already recorded under this fence.
 * - `stale_fence`: the object was claimed again since; this holder lost its lease.
 * - `not_leased`: the object is not being tiered or recalled.
 * - `wrong_outcome`: the outcome does not fit the kind (REHYDRATED for a tier, say), or a
 *   REHYDRATED result names another SHA-256 than the one recorded at tiering.
 * - `not_found`: no such object in this tenant.
 * The rows are locked first so that the verdict and the update see the same state.
 */
export const RECORD_RESULTS = `
  WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])
      AS r(id, fence, outcome, sha256, error)),
  locked AS (
    SELECT t.tier_id, t.share_name, t.state, t.fence, t.result_fence, t.last_outcome, t.sha256 AS stored_sha256
      FROM tier_object t JOIN input i ON t.tier_id = i.id
       FOR UPDATE OF t),
  moved AS (
    SELECT i.*, l.tier_id, l.share_name, l.state AS old_state, l.fence AS current_fence,
           l.result_fence, l.last_outcome,
           CASE WHEN l.state = 'IN_PROGRESS' AND i.outcome IN ('STUBBED', 'FAILED', 'STALE') THEN i.outcome
                WHEN l.state = 'RECALLING' AND i.outcome = 'REHYDRATED'
                     AND (l.stored_sha256 IS NULL OR decode(i.sha256, 'hex') = l.stored_sha256) THEN 'REHYDRATED'
                WHEN l.state = 'RECALLING' AND i.outcome IN ('FAILED', 'STALE') THEN 'STUBBED' END AS new_state
      FROM input i LEFT JOIN locked l ON l.tier_id = i.id),
  decided AS (
    SELECT m.*,
           CASE WHEN m.tier_id IS NULL THEN 'not_found'
                WHEN m.result_fence = m.fence AND m.last_outcome = m.outcome THEN 'duplicate'
                WHEN m.result_fence = m.fence THEN 'conflict'
                WHEN m.current_fence <> m.fence THEN 'stale_fence'
                WHEN m.old_state NOT IN ('IN_PROGRESS', 'RECALLING') THEN 'not_leased'
                WHEN m.new_state IS NULL THEN 'wrong_outcome'
                ELSE 'apply' END AS verdict
      FROM moved m),
  applied AS (
    UPDATE tier_object t
       SET state = d.new_state, result_fence = d.fence, last_outcome = d.outcome,
           sha256 = CASE WHEN d.outcome = 'STUBBED' THEN decode(d.sha256, 'hex') ELSE t.sha256 END,
           last_error = d.error, lease_expires_at = NULL, acted_at = $6
      FROM decided d
     WHERE t.tier_id = d.id AND d.verdict = 'apply'
    RETURNING t.tier_id),
  logged AS (
    INSERT INTO tier_result_log (tier_id, share_name, fence, kind, outcome, token_id, at_unix, error)
    SELECT d.id, d.share_name, d.fence, CASE d.old_state WHEN 'RECALLING' THEN 'recall' ELSE 'tier' END,
           d.outcome, $7, $6, d.error
      FROM decided d
     WHERE d.verdict = 'apply')
  SELECT d.id::text AS id, d.verdict, d.share_name, d.old_state, d.outcome,
         (SELECT count(*) FROM applied) AS applied_count
    FROM decided d`;
