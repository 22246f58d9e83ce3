import type pg from 'pg';
import type { ActingConfig } from '../config.ts';
import type { Principal } from '../control/authenticate.ts';
import { Roles } from '../db/roles.ts';
import { withTenant } from '../db/tenantContext.ts';
import type { RenewLeasesRequest, RenewLeasesResponse } from '../wire/acting.ts';
import { RENEW_LEASES } from './sql/renewLeases.ts';

interface RenewRow {
  id: string;
  lease_expires_at: number | null;
  verdict: 'renewed' | 'lost' | 'not_found';
}

const REASONS: Record<Exclude<RenewRow['verdict'], 'renewed'>, string> = {
  lost: 'the lease is no longer held by this token and fence: the object was claimed again or its result is recorded',
  not_found: 'no such action in this tenant',
};

/**
 * Extend leases the calling agent still holds, so that a file whose copy outlasts its
 * lease is not claimed by a second agent meanwhile. One statement and one audit row per
 * request, in one transaction. The lease length is bounded as for a claim.
 */
export async function renewLeases(
  pool: pg.Pool,
  config: ActingConfig,
  principal: Principal,
  request: RenewLeasesRequest,
): Promise<RenewLeasesResponse> {
  const leaseSeconds = Math.min(request.leaseSeconds ?? config.defaultLeaseSeconds, config.maxLeaseSeconds);
  const now = Math.floor(Date.now() / 1000);
  const ids = request.leases.map((lease) => lease.id);
  const fences = request.leases.map((lease) => lease.fence);

  return withTenant(pool, principal.tenant, Roles.actor, async (client) => {
    const { rows } = await client.query<RenewRow>(RENEW_LEASES, [ids, fences, now, leaseSeconds, principal.tokenId]);

    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'action.renewed', $2)", [
      principal.tokenName,
      {
        tokenId: principal.tokenId,
        tokenName: principal.tokenName,
        leaseSeconds,
        renewed: rows.filter((row) => row.verdict === 'renewed').map((row) => row.id),
        lost: rows.filter((row) => row.verdict !== 'renewed').map((row) => row.id),
      },
    ]);

    return {
      leases: rows.map((row) =>
        row.verdict === 'renewed'
          ? { id: row.id, renewed: true, leaseExpiresAt: Number(row.lease_expires_at), leaseSeconds: Number(row.lease_expires_at) - now }
          : { id: row.id, renewed: false, reason: REASONS[row.verdict] },
      ),
    };
  });
}
