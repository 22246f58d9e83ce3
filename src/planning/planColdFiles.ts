import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { resolvePolicies, type LatestScan, type PolicySource } from './effectivePolicies.ts';
import { listPolicies } from './policies.ts';
import { LATEST_SCANS } from './sql/latestScans.ts';
import { APPLY_PLAN, DROP_STALE_PLANS, LOCK_PLANNING, PREVIEW_PLAN, TIER2_FOLDERS } from './sql/planColdFiles.ts';

export interface PlanRequest {
  /** Plan one share only; all shares when absent. */
  share?: string;
  /** Overrides the policies' age threshold, in seconds; shares without a policy are planned only with it. */
  olderThanSeconds?: number;
  /** Write the plan; without it, nothing is written and the summary shows what would change. */
  apply: boolean;
  /** Most files the plan may hold; the least recently used are kept. */
  maxFiles?: number;
  /** Most bytes the plan may hold. */
  maxBytes?: number;
  /** Principal that requested the plan, recorded on each new row and in the audit log. */
  plannedBy: string;
  /** How many folders the summary lists. */
  topDirs?: number;
}

export interface PlanSummary {
  applied: boolean;
  /** Each planned share with its cutoff (Unix seconds), the time it ages files by, and where the threshold came from. */
  shares: { share: string; cutoffUnix: number; basis: string; source: PolicySource }[];
  /** Shares with a scan but neither a policy nor an age override. */
  skippedShares: string[];
  /** Files planned by this run that were not PLANNED before. */
  newlyPlanned: number;
  /** PLANNED files dropped because they no longer qualify (used, changed, gone, excluded or over a limit). */
  dropped: number;
  /** Files and bytes in the plan after this run (or after applying it, for a dry run). */
  plannedFiles: number;
  plannedBytes: number;
  /** Qualifying files left out by --max-files or --max-bytes. */
  overLimit: number;
  topDirs: { share: string; dirPath: string; files: number; bytes: number }[];
  /** Shares whose latest scan shows access times that look unmaintained. */
  unreliableAccessTimes: { share: string; suspectFiles: number; files: number }[];
}

/**
 * Fraction of a scan's files with an impossible access time (at or before creation, or
 * before the last modification) from which its access times count as unmaintained.
 */
export const UNRELIABLE_ACCESS_TIME_FRACTION = 0.9;

/** The largest value a bigint limit parameter takes when no limit is set. */
const NO_LIMIT = '9223372036854775807';

/**
 * Plan the cold files of each share in scope under its policy and return what changes.
 * With `apply`, bring the PLANNED tier objects in line with the latest OK scan: plan
 * new files, refresh planned ones, and drop those that no longer qualify. A dry run
 * only reads. Applying twice with the same scan and policy changes nothing the
 * second time.
 */
export async function planColdFiles(pool: pg.Pool, tenant: TenantRef, request: PlanRequest): Promise<PlanSummary> {
  const share = request.share ?? null;
  const now = Math.floor(Date.now() / 1000);
  const { policies, exclusions } = await listPolicies(pool, tenant);

  return withTenant(pool, tenant, Roles.planner, async (client) => {
    if (request.apply) await client.query(LOCK_PLANNING);

    const scans = await client.query<LatestScan>(LATEST_SCANS, [share]);
    if (share !== null && scans.rowCount === 0) {
      throw StrataError.notFound(`an OK scan of share ${JSON.stringify(share)}`);
    }
    const targets = await client.query<{ root: string }>(TIER2_FOLDERS);
    const tier2Folders = targets.rows.map((row) => row.root);
    const resolved = resolvePolicies(scans.rows, policies, exclusions, now, request.olderThanSeconds, tier2Folders);
    const effective = JSON.stringify(resolved.shares.map((entry) => entry.policy));
    const limits = [request.maxFiles ?? NO_LIMIT, request.maxBytes ?? NO_LIMIT];

    const preview = await client.query(PREVIEW_PLAN, [share, effective, ...limits, request.topDirs ?? 10]);
    const totals = preview.rows[0];

    let dropped = totals.dropped as number;
    if (request.apply) {
      const run = randomUUID();
      await client.query(APPLY_PLAN, [share, effective, ...limits, run, request.plannedBy]);
      const drop = await client.query(DROP_STALE_PLANS, [resolved.shares.map((entry) => entry.policy.share_name), run]);
      dropped = drop.rowCount ?? 0;

      await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'plan.applied', $2)", [
        request.plannedBy,
        {
          share,
          run,
          olderThanSeconds: request.olderThanSeconds ?? null,
          maxFiles: request.maxFiles ?? null,
          maxBytes: request.maxBytes ?? null,
          shares: resolved.shares.map((entry) => ({ ...entry.policy, source: entry.source })),
          newlyPlanned: totals.newly_planned,
          dropped,
        },
      ]);
    }

    return {
      applied: request.apply,
      shares: resolved.shares.map((entry) => ({
        share: entry.policy.share_name,
        cutoffUnix: entry.policy.cutoff,
        basis: entry.policy.basis,
        source: entry.source,
      })),
      skippedShares: resolved.skipped,
      newlyPlanned: totals.newly_planned,
      dropped,
      plannedFiles: totals.files,
      plannedBytes: totals.bytes,
      overLimit: totals.over_limit,
      topDirs: (totals.top_dirs as { share_name: string; dir_path: string; files: number; bytes: number }[]).map((row) => ({
        share: row.share_name,
        dirPath: row.dir_path,
        files: Number(row.files),
        bytes: Number(row.bytes),
      })),
      unreliableAccessTimes: scans.rows
        .map((row) => ({ share: row.share_name, suspectFiles: Number(row.atime_suspect_count ?? 0), files: Number(row.file_count ?? 0) }))
        .filter((row) => row.files > 0 && row.suspectFiles >= UNRELIABLE_ACCESS_TIME_FRACTION * row.files),
    };
  });
}
