import type pg from 'pg';
import { StrataError } from '../errors.ts';

/** A session-level advisory lock that marks a run as being worked on by this process. */
export interface RunLock {
  release(): Promise<void>;
}

const RUN_LOCK = "hashtext('strata.migration_run'), hashtext($1)";

/**
 * Take the run's advisory lock on a connection kept for the run's whole length. The
 * lock ends with the session, so a run whose process died shows as RUNNING without
 * a lock holder: interrupted, and resumable.
 */
export async function holdRunLock(pool: pg.Pool, runId: string): Promise<RunLock> {
  const client = await pool.connect();
  let locked = false;
  try {
    const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${RUN_LOCK}) AS locked`, [runId]);
    locked = rows[0]!.locked;
  } finally {
    if (!locked) client.release();
  }
  if (!locked) {
    throw StrataError.conflict('RUN_IN_PROGRESS', `migration run ${runId} is in progress in another process; wait for it to finish`);
  }

  return {
    release: async () => {
      try {
        await client.query(`SELECT pg_advisory_unlock(${RUN_LOCK})`, [runId]);
        client.release();
      } catch (error) {
        // Destroying the connection ends its session, which releases the lock too.
        client.release(error as Error);
      }
    },
  };
}

export interface NewRun {
  runId: string;
  targetVersion: string | null;
  tenantCodes: string[] | null;
  canary: number | null;
  startedBy: string;
  total: number;
}

export async function openRun(pool: pg.Pool, run: NewRun): Promise<void> {
  await pool.query(
    `INSERT INTO control.migration_run (run_id, target_version, tenant_codes, canary, started_by, tenants_total)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [run.runId, run.targetVersion, run.tenantCodes, run.canary, run.startedBy, run.total],
  );
}

/** Close a run with its status and counts taken from its per-tenant ledger. */
export async function finishRun(pool: pg.Pool, runId: string, status: 'DONE' | 'FAILED' | 'STOPPED', notAttempted: number): Promise<void> {
  await pool.query(
    `UPDATE control.migration_run r
        SET status = $2, finished_at = now(),
            tenants_ok = counts.ok, tenants_failed = counts.failed, tenants_total = counts.ok + counts.failed + $3
       FROM (SELECT count(*) FILTER (WHERE status = 'OK')::int AS ok, count(*) FILTER (WHERE status = 'FAILED')::int AS failed
               FROM control.migration_result WHERE run_id = $1) counts
      WHERE r.run_id = $1`,
    [runId, status, notAttempted],
  );
}

export interface ResumedRun {
  runId: string;
  tenantCodes: string[] | null;
  canary: number | null;
  /** Tenant ids the run already migrated. */
  succeeded: Set<string>;
  /** Tenant ids whose last attempt in the run failed. */
  failed: Set<string>;
}

interface RunRow {
  run_id: string;
  status: string;
  tenant_codes: string[] | null;
  canary: number | null;
  finished_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Reopen a recorded run (`'latest'` or its id) that did not end DONE. Unless this is a
 * dry run, the run is locked (the lock goes to `onLock`) and marked RUNNING again.
 */
export async function resumeRun(
  pool: pg.Pool,
  which: string,
  options: { dryRun: boolean; onLock: (lock: RunLock) => void },
): Promise<ResumedRun> {
  const run = await findRun(pool, which);
  if (run.status === 'DONE') {
    throw StrataError.conflict(
      'RUN_FINISHED',
      `migration run ${run.run_id} ended DONE at ${run.finished_at?.toISOString()}; nothing to resume. Run \`strata migrate\` without --resume for a new run`,
    );
  }

  const lock = await holdRunLock(pool, run.run_id);
  if (options.dryRun) await lock.release();
  else options.onLock(lock);

  const { rows } = await pool.query<{ tenant_id: string; status: string }>('SELECT tenant_id, status FROM control.migration_result WHERE run_id = $1', [run.run_id]);
  if (!options.dryRun) {
    await pool.query("UPDATE control.migration_run SET status = 'RUNNING', finished_at = NULL WHERE run_id = $1", [run.run_id]);
  }

  return {
    runId: run.run_id,
    tenantCodes: run.tenant_codes,
    canary: run.canary,
    succeeded: new Set(rows.filter((row) => row.status === 'OK').map((row) => row.tenant_id)),
    failed: new Set(rows.filter((row) => row.status === 'FAILED').map((row) => row.tenant_id)),
  };
}

async function findRun(pool: pg.Pool, which: string): Promise<RunRow> {
  const columns = 'run_id, status, tenant_codes, canary, finished_at';
  if (which === 'latest') {
    const { rows } = await pool.query<RunRow>(`SELECT ${columns} FROM control.migration_run ORDER BY started_at DESC LIMIT 1`);
    if (!rows[0]) throw new StrataError('NOT_FOUND', 'no migration run is recorded yet; run `strata migrate` first', 404);
    return rows[0];
  }

  if (!UUID.test(which)) throw StrataError.invalid('INVALID_RUN_ID', `run id "${which}" is not a UUID; copy it from the last line of \`strata migrate\``);
  const { rows } = await pool.query<RunRow>(`SELECT ${columns} FROM control.migration_run WHERE run_id = $1`, [which]);
  if (!rows[0]) throw StrataError.notFound(`migration run ${which}`);
  return rows[0];
}

/** Record a tenant's outcome in the run's ledger; a retry in a resumed run replaces the row and counts the attempt. */
export async function recordResult(
  db: pg.ClientBase,
  runId: string,
  tenant: { id: string; schemaName: string },
  status: 'OK' | 'FAILED',
  applied: string[],
  error: string | null,
): Promise<void> {
  await db.query(
    `INSERT INTO control.migration_result (run_id, tenant_id, schema_name, status, applied, error)
     VALUES ($1, $2, $3, $4, $5, $6)
     ${UPSERT_RESULT}`,
    [runId, tenant.id, tenant.schemaName, status, applied, error],
  );
}

const UPSERT_RESULT = `ON CONFLICT (run_id, tenant_id) DO UPDATE
        SET status = excluded.status,
            applied = excluded.applied,
            error = excluded.error,
            finished_at = now(),
            attempts = control.migration_result.attempts + 1`;

/**
 * OK results of schemas that had nothing to apply, written to the ledger 500 at a
 * time instead of one commit each. If the process dies, the unwritten ones are
 * simply checked again on resume, which costs one query per schema.
 */
export class UpToDateResults {
  private pending: { id: string; schemaName: string }[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly runId: string,
    private readonly dryRun: boolean,
  ) {}

  async add(tenant: { id: string; schemaName: string }): Promise<void> {
    if (this.dryRun) return;
    this.pending.push({ id: tenant.id, schemaName: tenant.schemaName });
    if (this.pending.length >= 500) await this.flush();
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;

    await this.pool.query(
      `INSERT INTO control.migration_result (run_id, tenant_id, schema_name, status, applied, error)
       SELECT $1, t.id, t.schema_name, 'OK', '{}', NULL FROM unnest($2::uuid[], $3::text[]) AS t(id, schema_name)
       ${UPSERT_RESULT}`,
      [this.runId, batch.map((tenant) => tenant.id), batch.map((tenant) => tenant.schemaName)],
    );
  }
}
