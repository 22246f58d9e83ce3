import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { PLAN_COLD_FILES, PLANNED_TOTALS, TOP_PLANNED_DIRS } from './sql/planColdFiles.ts';

export interface PlanRequest {
  /** Plan one share only; all shares when absent. */
  share?: string;
  /** Files last accessed at least this many seconds ago are planned. */
  olderThanSeconds: number;
  /** Who asked, recorded on each planned row and in the audit log. */
  plannedBy: string;
  /** How many folders the summary lists. */
  topDirs?: number;
}

export interface PlanSummary {
  /** Unix seconds: files last accessed at or before this were planned. */
  cutoffUnix: number;
  newlyPlanned: number;
  plannedFiles: number;
  plannedBytes: number;
  topDirs: { share: string; dirPath: string; files: number; bytes: number }[];
}

/**
 * Turn the latest OK scan of each share into PLANNED tier objects for the files not
 * accessed within the threshold, and summarise what is planned. Idempotent: a second
 * run plans nothing new unless a newer scan or a longer threshold brings new files.
 */
export async function planColdFiles(pool: pg.Pool, tenant: TenantRef, request: PlanRequest): Promise<PlanSummary> {
  const share = request.share ?? null;
  const cutoffUnix = Math.floor(Date.now() / 1000) - request.olderThanSeconds;

  return withTenant(pool, tenant, Roles.planner, async (client) => {
    const inserted = await client.query(PLAN_COLD_FILES, [share, cutoffUnix, request.plannedBy]);
    const totals = await client.query<{ files: number; bytes: number }>(PLANNED_TOTALS, [share]);
    const top = await client.query<{ share_name: string; dir_path: string; files: number; bytes: number }>(TOP_PLANNED_DIRS, [
      share,
      request.topDirs ?? 10,
    ]);

    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'plan.built', $2)", [
      request.plannedBy,
      { share, olderThanSeconds: request.olderThanSeconds, cutoffUnix, newlyPlanned: inserted.rowCount ?? 0 },
    ]);

    return {
      cutoffUnix,
      newlyPlanned: inserted.rowCount ?? 0,
      plannedFiles: totals.rows[0]?.files ?? 0,
      plannedBytes: totals.rows[0]?.bytes ?? 0,
      topDirs: top.rows.map((row) => ({ share: row.share_name, dirPath: row.dir_path, files: row.files, bytes: row.bytes })),
    };
  });
}
