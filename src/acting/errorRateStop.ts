import type pg from 'pg';
import type { ActingConfig } from '../config.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';
import { PAUSE_SHARE, RESUME_SHARE, SHARE_ACTING_STATUS, SHARE_FAILURE_RATES } from './sql/errorRate.ts';

export interface PausedShare {
  share: string;
  results: number;
  failures: number;
  maxRate: number;
}

/**
 * Pause every share in `shares` whose failure rate over its latest results exceeds
 * its limit, once at least `failureMinResults` results count. A paused share's claims
 * are rejected with 409 SHARE_PAUSED until an operator resumes it, so an agent that
 * fails on every file (a full Tier-2, revoked credentials) stops within one window
 * instead of marking the whole plan FAILED. Runs in the caller's transaction.
 */
export async function pauseFailingShares(
  client: pg.ClientBase,
  config: ActingConfig,
  shares: string[],
  actor: string,
): Promise<PausedShare[]> {
  const { rows } = await client.query<{ share_name: string; results: number; failures: number; max_rate: number }>(
    SHARE_FAILURE_RATES,
    [shares, config.failureWindow, config.maxFailureRate],
  );

  const paused: PausedShare[] = [];
  for (const row of rows) {
    if (row.results < config.failureMinResults || row.failures / row.results <= row.max_rate) continue;

    const reason = `${row.failures} of the latest ${row.results} results failed, above the limit of ${Math.round(row.max_rate * 100)}%`;
    const now = Math.floor(Date.now() / 1000);
    const result = await client.query(PAUSE_SHARE, [row.share_name, reason, now]);
    if (result.rowCount === 0) continue;

    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'acting.paused', $2)", [
      actor,
      { share: row.share_name, reason, results: row.results, failures: row.failures, maxRate: row.max_rate },
    ]);
    paused.push({ share: row.share_name, results: row.results, failures: row.failures, maxRate: row.max_rate });
  }
  return paused;
}

/** Let a paused share's claims through again; the failure window restarts empty. */
export async function resumeShare(pool: pg.Pool, tenant: TenantRef, share: string, actor: string): Promise<void> {
  await withTenant(pool, tenant, Roles.actor, async (client) => {
    const now = Math.floor(Date.now() / 1000);
    const result = await client.query(RESUME_SHARE, [share, now, actor]);
    if (result.rowCount === 0) {
      throw new StrataError('NOT_PAUSED', `share ${JSON.stringify(share)} of tenant ${tenant.code} is not paused`, 409);
    }
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'acting.resumed', $2)", [actor, { share }]);
  });
}

export interface ShareActingStatus {
  share: string;
  pausedAt: number | null;
  pausedReason: string | null;
  resumedAt: number | null;
  resumedBy: string | null;
  planned: number;
  leased: number;
  /** Results since the last resume, and how many failed. */
  results: number;
  failures: number;
}

/** List each share's pause state and counts, for `strata act status`. */
export async function shareActingStatus(pool: pg.Pool, tenant: TenantRef): Promise<ShareActingStatus[]> {
  return withTenant(pool, tenant, Roles.actor, async (client) => {
    const { rows } = await client.query(SHARE_ACTING_STATUS);
    return rows.map((row) => ({
      share: row.share_name,
      pausedAt: row.paused_at,
      pausedReason: row.paused_reason,
      resumedAt: row.resumed_at,
      resumedBy: row.resumed_by,
      planned: row.planned,
      leased: row.leased,
      results: row.results,
      failures: row.failures,
    }));
  });
}
