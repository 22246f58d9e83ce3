/**
 * Claim up to `$3` objects of share `$1` in one statement. `$2` is now (Unix seconds),
 * `$4` the lease length in seconds, `$5` the claiming token's id.
 *
 * `FOR UPDATE SKIP LOCKED` hands concurrent claimers disjoint rows without waiting on
 * each other. An object whose lease expired goes back to the queue. Its new claim
 * draws a new fence, so a result from the earlier holder is rejected. No tiering work
 * is handed out while the share is paused by the error-rate stop. Recalls still are:
 * users need their files back most when tiering is failing.
 *
 * A row in the leased state with no lease at all (the sanitizer's request to recall a
 * stale stub) waits for an agent like an expired one.
 *
 * The folder join runs on the claimed rows only. Joined inside the UPDATE, the planner
 * misjudged the CTE's size and joined every folder's objects first (seconds per claim
 * at 50,000 objects).
 */
function claimStatement(queueStates: [string, string], leasedState: string, extraFilter: string, pausable: boolean): string {
  const [waiting, leased] = queueStates;
  return `
  WITH picked AS (
    SELECT tier_id
      FROM tier_object
     WHERE share_name = $1
       AND state IN ('${waiting}', '${leased}')
       AND (state = '${waiting}' OR lease_expires_at IS NULL OR lease_expires_at <= $2)
       ${extraFilter}
       ${pausable ? 'AND NOT EXISTS (SELECT 1 FROM share_acting a WHERE a.share_name = $1 AND a.paused_at IS NOT NULL)' : ''}
     ORDER BY tier_id
     LIMIT $3
       FOR UPDATE SKIP LOCKED),
  claimed AS (
    UPDATE tier_object t
       SET state = '${leasedState}', fence = nextval('tier_fence'), lease_expires_at = $2 + $4,
           leased_by = $5, claimed_at = $2, attempts = t.attempts + 1
      FROM picked p
     WHERE t.tier_id = p.tier_id
    RETURNING t.tier_id, t.fence, t.lease_expires_at, t.share_name, t.dir_hash, t.name, t.size_bytes,
              t.mtime_unix, t.frn, t.tier2_key, t.sha256)
  SELECT c.tier_id::text AS id, c.fence::text AS fence, c.lease_expires_at, d.dir_path, c.name, c.size_bytes,
         c.mtime_unix, c.frn::text AS frn, c.tier2_key, encode(c.sha256, 'hex') AS sha256
    FROM claimed c
    JOIN dir d ON d.share_name = c.share_name AND d.dir_hash = c.dir_hash
   ORDER BY c.tier_id`;
}

/** Claim PLANNED objects (and tier claims whose lease expired) for copying to Tier-2. */
export const CLAIM_TIER = claimStatement(['PLANNED', 'IN_PROGRESS'], 'IN_PROGRESS', '', true);

/** Claim STUBBED objects whose full path matches the regular expression `$6` for recall. */
export const CLAIM_RECALL = claimStatement(['STUBBED', 'RECALLING'], 'RECALLING', 'AND full_path ~ $6', false);

/** Why a share hands out nothing: its pause, if any. */
export const SHARE_PAUSE = `
  SELECT paused_at::int8 AS paused_at, paused_reason FROM share_acting WHERE share_name = $1 AND paused_at IS NOT NULL`;
