import type pg from 'pg';
import { globToRegex } from '../acting/globPattern.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';

/** Time a file's age is counted from. */
export const AGE_BASES = ['auto', 'access', 'modification', 'later'] as const;
export type AgeBasis = (typeof AGE_BASES)[number];

/** The share name of the tenant's default policy, used by shares without their own. */
export const DEFAULT_POLICY_SHARE = '*';

export interface TierPolicy {
  /** A share name, or `*` for the tenant default. */
  share: string;
  /** Files used less recently than this many seconds ago qualify. */
  minAgeSeconds: number;
  /**
   * `auto` (default) and `later` count from the later of last access and last
   * modification. So a recent modification keeps a file out of the plan, even on
   * shares that do not maintain access times. `access` and `modification` use one time.
   */
  ageBasis: AgeBasis;
  minSizeBytes: number;
  /** Globs over the full path; when any is given, only matching files qualify. */
  includeGlobs: string[];
  /** Globs over the full path; matching files never qualify. */
  excludeGlobs: string[];
  /** Failure fraction that pauses the share's claims; the STRATA_ACT_MAX_FAILURE_RATE default when null. */
  maxFailureRate: number | null;
  updatedAt?: number;
  updatedBy?: string;
}

/** One entry of the tenant's exclusion list: a glob that no plan selects. */
export interface TierExclusion {
  /** Null applies the pattern to every share. */
  share: string | null;
  pattern: string;
  reason: string | null;
  addedBy?: string;
  addedAt?: number;
}

/** Fail with the glob and the rule when a pattern cannot be used. */
function checkGlobs(globs: string[]): void {
  for (const glob of globs) globToRegex(glob, 'posix');
}

/** Create or replace a share's policy (all fields at once), recorded in the audit log. */
export async function setPolicy(pool: pg.Pool, tenant: TenantRef, policy: TierPolicy, actor: string): Promise<void> {
  checkGlobs([...policy.includeGlobs, ...policy.excludeGlobs]);

  await withTenant(pool, tenant, Roles.planner, async (client) => {
    const before = await client.query('SELECT * FROM tier_policy WHERE share_name = $1', [policy.share]);
    await client.query(
      `INSERT INTO tier_policy (share_name, min_age_seconds, age_basis, min_size_bytes, include_globs, exclude_globs, max_failure_rate, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (share_name) DO UPDATE
          SET min_age_seconds = EXCLUDED.min_age_seconds, age_basis = EXCLUDED.age_basis,
              min_size_bytes = EXCLUDED.min_size_bytes, include_globs = EXCLUDED.include_globs,
              exclude_globs = EXCLUDED.exclude_globs, max_failure_rate = EXCLUDED.max_failure_rate,
              updated_by = EXCLUDED.updated_by, updated_at = extract(epoch from now())::bigint`,
      [policy.share, policy.minAgeSeconds, policy.ageBasis, policy.minSizeBytes, policy.includeGlobs, policy.excludeGlobs, policy.maxFailureRate, actor],
    );
    const previous = before.rows[0] ? fromRow(before.rows[0]) : null;
    await audit(client, actor, 'policy.set', { share: policy.share, previous: previous && withoutStamps(previous), policy: withoutStamps(policy) });
  });
}

/** Remove a share's policy; its PLANNED rows stay until the next plan. */
export async function removePolicy(pool: pg.Pool, tenant: TenantRef, share: string, actor: string): Promise<void> {
  await withTenant(pool, tenant, Roles.planner, async (client) => {
    const { rows } = await client.query('DELETE FROM tier_policy WHERE share_name = $1 RETURNING *', [share]);
    if (rows.length === 0) throw StrataError.notFound(`policy for share ${JSON.stringify(share)}`);
    await audit(client, actor, 'policy.removed', { share, previous: withoutStamps(fromRow(rows[0])) });
  });
}

export async function listPolicies(pool: pg.Pool, tenant: TenantRef): Promise<{ policies: TierPolicy[]; exclusions: TierExclusion[] }> {
  return withTenant(pool, tenant, Roles.planner, async (client) => {
    const policies = await client.query('SELECT * FROM tier_policy ORDER BY share_name');
    const exclusions = await client.query('SELECT * FROM tier_exclusion ORDER BY share_name NULLS FIRST, pattern');
    return {
      policies: policies.rows.map(fromRow),
      exclusions: exclusions.rows.map((row) => ({
        share: row.share_name,
        pattern: row.pattern,
        reason: row.reason,
        addedBy: row.added_by,
        addedAt: row.added_at,
      })),
    };
  });
}

/** Add a glob to the exclusion list; adding one that exists changes nothing. */
export async function addExclusion(pool: pg.Pool, tenant: TenantRef, exclusion: TierExclusion, actor: string): Promise<boolean> {
  checkGlobs([exclusion.pattern]);
  return withTenant(pool, tenant, Roles.planner, async (client) => {
    const { rowCount } = await client.query(
      `INSERT INTO tier_exclusion (share_name, pattern, reason, added_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (share_name, pattern) DO NOTHING`,
      [exclusion.share, exclusion.pattern, exclusion.reason, actor],
    );
    if (rowCount) await audit(client, actor, 'exclusion.added', { share: exclusion.share, pattern: exclusion.pattern, reason: exclusion.reason });
    return Boolean(rowCount);
  });
}

export async function removeExclusion(pool: pg.Pool, tenant: TenantRef, share: string | null, pattern: string, actor: string): Promise<void> {
  await withTenant(pool, tenant, Roles.planner, async (client) => {
    const { rowCount } = await client.query('DELETE FROM tier_exclusion WHERE share_name IS NOT DISTINCT FROM $1 AND pattern = $2', [share, pattern]);
    if (!rowCount) throw StrataError.notFound(`exclusion ${JSON.stringify(pattern)}${share === null ? '' : ` of share ${JSON.stringify(share)}`}`);
    await audit(client, actor, 'exclusion.removed', { share, pattern });
  });
}

function fromRow(row: Record<string, any>): TierPolicy {
  return {
    share: row.share_name,
    minAgeSeconds: row.min_age_seconds,
    ageBasis: row.age_basis,
    minSizeBytes: row.min_size_bytes,
    includeGlobs: row.include_globs,
    excludeGlobs: row.exclude_globs,
    maxFailureRate: row.max_failure_rate,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
  };
}

function withoutStamps(policy: TierPolicy): Omit<TierPolicy, 'updatedAt' | 'updatedBy'> {
  const { updatedAt: _at, updatedBy: _by, ...rest } = policy;
  return rest;
}

async function audit(client: pg.ClientBase, actor: string, action: string, details: Record<string, unknown>): Promise<void> {
  await client.query('INSERT INTO audit_log (actor, action, details) VALUES ($1, $2, $3)', [actor, action, details]);
}
