import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { LATEST_SCANS } from './sql/latestScans.ts';
import { DROP_STALE_PLANS, PLAN_COLD_FILES, PLANNED_TOTALS, TOP_PLANNED_DIRS } from './sql/planColdFiles.ts';

export interface PlanRequest {
  /** Plan one share only; all shares when absent. */
  share?: string;
  /** Files last accessed at least this many seconds ago are planned. */
  olderThanSeconds: number;
  /** Principal that requested the plan, recorded on each new row and in the audit log. */
  plannedBy: string;
  /** How many folders the summary lists. */
  topDirs?: number;
}

export interface PlanSummary {
  /** Unix seconds: files last accessed at or before this were planned. */
  cutoffUnix: number;
  /** Files planned by this run that were not planned before. */
  newlyPlanned: number;
  /** PLANNED files dropped because they no longer qualify (used, changed or gone). */
  dropped: number;
  plannedFiles: number;
  plannedBytes: number;
  topDirs: { share: string; dirPath: string; files: number; bytes: number }[];
  /** Shares whose latest scan shows access times that look unmaintained. */
  unreliableAccessTimes: { share: string; suspectFiles: number; files: number }[];
}

/**
 * Fraction of a scan's files with an impossible access time (at or before creation, or
 * before the last modification) from which its access times count as unmaintained.
 */
export const UNRELIABLE_ACCESS_TIME_FRACTION = 0.9;

/**
 * Bring the PLANNED tier objects of each share in scope in line with its latest OK
 * scan: plan the files not accessed within the threshold, refresh those already
 * planned, and drop planned files that no longer qualify. Running it twice with the
 * same scan and threshold changes nothing the second time.
 */
export async function planColdFiles(pool: pg.Pool, tenant: TenantRef, request: PlanRequest): Promise<PlanSummary> {
  const share = request.share ?? null;
  const cutoffUnix = Math.floor(Date.now() / 1000) - request.olderThanSeconds;
  const run = randomUUID();

  return withTenant(pool, tenant, Roles.planner, async (client) => {
    const scans = await client.query<{ share_name: string; file_count: string | null; atime_suspect_count: string | null }>(LATEST_SCANS, [share]);
    if (share !== null && scans.rowCount === 0) {
      throw StrataError.notFound(`an OK scan of share ${JSON.stringify(share)}`);
    }

    const planned = await client.query<{ inserted: number }>(PLAN_COLD_FILES, [share, cutoffUnix, request.plannedBy, run]);
    const dropped = await client.query(DROP_STALE_PLANS, [share, run]);
    const totals = await client.query<{ files: number; bytes: number }>(PLANNED_TOTALS, [share]);
    const top = await client.query<{ share_name: string; dir_path: string; files: number; bytes: number }>(TOP_PLANNED_DIRS, [
      share,
      request.topDirs ?? 10,
    ]);

    const newlyPlanned = planned.rows[0]?.inserted ?? 0;
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'plan.built', $2)", [
      request.plannedBy,
      { share, run, olderThanSeconds: request.olderThanSeconds, cutoffUnix, newlyPlanned, dropped: dropped.rowCount ?? 0 },
    ]);

    return {
      cutoffUnix,
      newlyPlanned,
      dropped: dropped.rowCount ?? 0,
      plannedFiles: totals.rows[0]?.files ?? 0,
      plannedBytes: totals.rows[0]?.bytes ?? 0,
      topDirs: top.rows.map((row) => ({ share: row.share_name, dirPath: row.dir_path, files: row.files, bytes: row.bytes })),
      unreliableAccessTimes: scans.rows
        .map((row) => ({ share: row.share_name, suspectFiles: Number(row.atime_suspect_count ?? 0), files: Number(row.file_count ?? 0) }))
        .filter((row) => row.files > 0 && row.suspectFiles >= UNRELIABLE_ACCESS_TIME_FRACTION * row.files),
    };
  });
}
