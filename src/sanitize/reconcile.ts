import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import { LATEST_SCANS } from '../planning/sql/latestScans.ts';
import { FINDING_KINDS, type FindingKind } from './findingKinds.ts';
import { FINDING_STATEMENTS } from './sql/findings.ts';
import { LATEST_INVENTORIES } from './sql/latestInventories.ts';
import { FINDING_TOTALS, PREVIOUS_RUN } from './sql/summary.ts';

/** Payload of a `sanitize.reconcile` job. */
export interface ReconcileJob {
  tenantId: string;
  runId: number;
}

export interface KindTotals {
  findings: number;
  bytes: number;
}

/** Findings of one reconciliation per kind, and the change since the previous run of the same scope. */
export interface RunSummary {
  runId: number;
  share: string | null;
  status: 'RUNNING' | 'DONE' | 'FAILED';
  /** The inventory each share was compared with. */
  inventories: Record<string, number>;
  /** Shares with a scan but no complete inventory: MISSING, ORPHAN and SIZE_MISMATCH were not checked there. */
  sharesWithoutInventory: string[];
  totals: Record<FindingKind, KindTotals>;
  previousRunId: number | null;
  /** This run's totals minus the previous run's, per kind; zero when there is no previous run. */
  delta: Record<FindingKind, KindTotals>;
}

/**
 * Record a reconciliation to run: the share (or all shares) and the threshold under
 * which a planned or stubbed file counts as in use again, for shares without a policy
 * (the share's own, or the tenant's `*`). Returns the run id.
 */
export async function createReconcileRun(
  pool: pg.Pool,
  tenant: TenantRef,
  request: { share?: string; staleAfterSeconds: number; requestedBy: string },
): Promise<number> {
  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    const { rows } = await client.query<{ run_id: string }>(
      'INSERT INTO sanitize_run (share_name, requested_by, stale_after_seconds) VALUES ($1, $2, $3) RETURNING run_id',
      [request.share ?? null, request.requestedBy, request.staleAfterSeconds],
    );
    return Number(rows[0]!.run_id);
  });
}

/**
 * Run one reconciliation: each finding kind is one set-based statement, and all of
 * them, the summary and the run's DONE status commit in one transaction. A retried job
 * after a crash therefore starts from nothing, and a run already DONE is left as it is.
 * Reconciliations of one tenant run one at a time.
 */
export async function reconcileRun(pool: pg.Pool, tenant: TenantRef, runId: number, log: Logger): Promise<RunSummary> {
  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('sanitize.reconcile:' || $1, 0))", [tenant.id]);
    const run = await client.query<{ share_name: string | null; status: string; stale_after_seconds: string; started_at: string }>(
      'SELECT share_name, status, stale_after_seconds, started_at FROM sanitize_run WHERE run_id = $1 FOR UPDATE',
      [runId],
    );
    const row = run.rows[0];
    if (!row) throw new Error(`sanitize run ${runId} not found`);
    if (row.status === 'DONE') return readSummary(client, runId);

    const share = row.share_name;
    const now = Math.floor(Date.now() / 1000);

    const inventories = await client.query<{ inventory_id: string; share_name: string }>(LATEST_INVENTORIES, [share]);
    const scans = await client.query<{ share_name: string }>(LATEST_SCANS, [share]);
    for (const statement of FINDING_STATEMENTS) {
      const params = statement.usesThreshold ? [share, runId, now, Number(row.stale_after_seconds)] : [share, runId];
      const inserted = await client.query(statement.sql, params);
      log.debug({ runId, kind: statement.kind, findings: inserted.rowCount }, 'findings stored');
    }

    const inventoryIds = Object.fromEntries(inventories.rows.map((inventory) => [inventory.share_name, Number(inventory.inventory_id)]));
    const withoutInventory = scans.rows.map((scan) => scan.share_name).filter((name) => !(name in inventoryIds));
    const summary = await summarise(client, runId, share, inventoryIds, withoutInventory);

    await client.query(
      `UPDATE sanitize_run SET status = 'DONE', finished_at = extract(epoch from now())::bigint, inventories = $2, summary = $3
        WHERE run_id = $1`,
      [runId, inventoryIds, { ...summary, status: 'DONE' }],
    );
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ('sanitizer', 'sanitize.reconciled', $1)", [
      { runId, share, totals: summary.totals },
    ]);
    return { ...summary, status: 'DONE' };
  });
}

async function summarise(
  client: pg.ClientBase,
  runId: number,
  share: string | null,
  inventories: Record<string, number>,
  sharesWithoutInventory: string[],
): Promise<RunSummary> {
  const totals = emptyTotals();
  const counted = await client.query<{ kind: FindingKind; findings: string; bytes: string }>(FINDING_TOTALS, [runId]);
  for (const row of counted.rows) totals[row.kind] = { findings: Number(row.findings), bytes: Number(row.bytes) };

  const previous = await client.query<{ run_id: string; summary: RunSummary | null }>(PREVIOUS_RUN, [runId, share]);
  const before = previous.rows[0]?.summary?.totals;
  const delta = emptyTotals();
  for (const kind of FINDING_KINDS) {
    delta[kind] = before
      ? { findings: totals[kind].findings - (before[kind]?.findings ?? 0), bytes: totals[kind].bytes - (before[kind]?.bytes ?? 0) }
      : { findings: 0, bytes: 0 };
  }

  return {
    runId,
    share,
    status: 'RUNNING',
    inventories,
    sharesWithoutInventory,
    totals,
    previousRunId: previous.rows[0] ? Number(previous.rows[0].run_id) : null,
    delta,
  };
}

function emptyTotals(): Record<FindingKind, KindTotals> {
  return Object.fromEntries(FINDING_KINDS.map((kind) => [kind, { findings: 0, bytes: 0 }])) as Record<FindingKind, KindTotals>;
}

/** Read a run's stored summary; a run not yet DONE has totals of zero. */
export async function readSummary(client: pg.ClientBase, runId: number): Promise<RunSummary> {
  const { rows } = await client.query<{ share_name: string | null; status: RunSummary['status']; summary: RunSummary | null }>(
    'SELECT share_name, status, summary FROM sanitize_run WHERE run_id = $1',
    [runId],
  );
  const row = rows[0];
  if (!row) throw new Error(`sanitize run ${runId} not found`);
  if (row.summary) return { ...row.summary, status: row.status };
  return {
    runId,
    share: row.share_name,
    status: row.status,
    inventories: {},
    sharesWithoutInventory: [],
    totals: emptyTotals(),
    previousRunId: null,
    delta: emptyTotals(),
  };
}

/** Read a run's summary in its own transaction. */
export async function getRunSummary(pool: pg.Pool, tenant: TenantRef, runId: number): Promise<RunSummary> {
  return withTenant(pool, tenant, Roles.sanitizer, (client) => readSummary(client, runId));
}
