/**
 * Extend the leases named by `$1` ids and `$2` fences (parallel arrays) to `$3` (now,
 * Unix seconds) plus `$4` seconds, never shortening one. `$5` is the calling token's id.
 *
 * A lease is extended only while it is still its holder's: the object is in a leased
 * state, its fence is the one the holder was given, and the same token claimed it. A
 * lease that ran out but was not claimed again is still the holder's, so it is extended.
 * Once another claim took the object, its fence changed and the holder has lost it. The
 * UPDATE locks each row, so a renewal and a concurrent claim of the same object see each
 * other's result: the claim skips the row the renewal holds, or the renewal finds the
 * claim's new fence.
 *
 * The final join matches the fence too, so an id named twice with different fences is
 * renewed only for the entry with the current fence.
 *
 * The state test also leaves out objects the sanitizer put back in a leased state without
 * a lease (claimActions.ts): their fence belongs to no agent.
 */
export const RENEW_LEASES = `
  WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS r(id, fence)),
  renewed AS (
    UPDATE tier_object t
       SET lease_expires_at = GREATEST(t.lease_expires_at, $3::bigint + $4::bigint)
      FROM input i
     WHERE t.tier_id = i.id
       AND t.fence = i.fence
       AND t.leased_by = $5
       AND t.state IN ('IN_PROGRESS', 'RECALLING')
       AND t.lease_expires_at IS NOT NULL
    RETURNING t.tier_id, t.fence, t.lease_expires_at)
  SELECT i.id::text AS id, r.lease_expires_at,
         CASE WHEN r.tier_id IS NOT NULL THEN 'renewed'
              WHEN NOT EXISTS (SELECT 1 FROM tier_object t WHERE t.tier_id = i.id) THEN 'not_found'
              ELSE 'lost' END AS verdict
    FROM input i LEFT JOIN renewed r ON r.tier_id = i.id AND r.fence = i.fence`;
