import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import type { Logger } from '../log.ts';
import { TENANT_MIGRATIONS } from '../../tenant-template/index.ts';
import { applyTenantMigrations, type TenantMigrationEntry } from './applyTenantMigrations.ts';
import { forEachConcurrently } from './boundedConcurrency.ts';
import { selectTenants, type FleetTenant } from './fleetTenants.ts';
import { finishRun, holdRunLock, openRun, recordResult, resumeRun, UpToDateResults, type RunLock } from './migrationRuns.ts';

export interface TenantMigrationOutcome {
  code: string;
  schemaName: string;
  status: 'OK' | 'FAILED';
  /** Migrations applied, or in a dry run the ones that would be. */
  migrations: string[];
  error?: string;
}

export interface MigrateTenantsOptions {
  concurrency: number;
  dryRun?: boolean;
  /** Restrict the run to these tenant codes; their order is the order of the run. */
  tenants?: string[];
  /** Migrate this many tenants first and stop the run if any of them fails. */
  canary?: number;
  /**
   * Continue a recorded run: `'latest'` or a run id. The run keeps its id, tenant
   * selection and canary size; tenants it already migrated are skipped, and the ones
   * that failed go first.
   */
  resume?: string;
  /** The person or process that started the run, for the ledger (e.g. `cli:alice@host`). */
  startedBy?: string;
  /** Stop taking new tenants once aborted; tenants in progress finish and the run is STOPPED. */
  signal?: AbortSignal;
  /** Called once the tenants are chosen, before any is migrated. */
  onPlan?: (plan: MigrationPlan) => void;
  /** Called once per tenant as it finishes, with its position in the run. */
  onResult?: (outcome: TenantMigrationOutcome, done: number, total: number) => void;
  /** Tests and benchmarks replace the template. */
  migrations?: readonly TenantMigrationEntry[];
}

export interface MigrationPlan {
  runId: string;
  resumed: boolean;
  /** Tenants this invocation will migrate. */
  total: number;
  /** Tenants a resumed run had already migrated, skipped now. */
  skipped: number;
  /** Size of the first wave, or 0 without canaries. */
  canary: number;
}

export interface MigrateTenantsReport {
  runId: string;
  /** The run's final status. A dry run records nothing and reports DONE or FAILED. */
  status: 'DONE' | 'FAILED' | 'STOPPED';
  outcomes: TenantMigrationOutcome[];
  failed: number;
  /** Tenants skipped because the resumed run had already migrated them. */
  skipped: number;
  /** Tenants left alone because a canary failed or the run was aborted. */
  notAttempted: number;
}

/**
 * Bring every tenant schema (or the named ones) to the template's version, a bounded
 * number at a time. Each schema migrates in its own transaction together with its
 * registry version and its ledger row, so it is either fully at the new version or
 * untouched. A failure is recorded in `control.migration_result` and the run goes on
 * with the others, except in a canary wave, where it stops the run.
 *
 * The run itself is recorded in `control.migration_run`. This process holds an advisory
 * lock on it while it works, so a run left RUNNING without its lock was interrupted
 * and can be resumed.
 */
export async function migrateTenants(
  pool: pg.Pool,
  orm: MikroORM,
  log: Logger,
  options: MigrateTenantsOptions,
): Promise<MigrateTenantsReport> {
  const migrations = options.migrations ?? TENANT_MIGRATIONS;
  let lock: RunLock | undefined;

  try {
    const { runId, tenants, skipped, canary, resumed } = await chooseTenants(pool, options, migrations, (held) => (lock = held));
    options.onPlan?.({ runId, resumed, total: tenants.length, skipped, canary: Math.min(canary, tenants.length) });
    const runLog = log.child({ runId });
    runLog.info({ tenants: tenants.length, skipped, canary, resumed, dryRun: options.dryRun === true }, 'tenant migration run starting');

    // The run's lock keeps one pooled connection; more workers than the rest would wait
    // for connections and could time out behind a long migration.
    const concurrency = Math.max(1, Math.min(options.concurrency, pool.options.max - 1));
    if (concurrency < options.concurrency) {
      runLog.warn({ requested: options.concurrency, concurrency, poolMax: pool.options.max }, 'concurrency lowered to fit the connection pool');
    }
    const outcomes = await migrateInWaves(pool, orm, runLog, runId, tenants, canary, { ...options, concurrency, migrations });
    const failed = outcomes.filter((outcome) => outcome.status === 'FAILED').length;
    const notAttempted = tenants.length - outcomes.length;
    let status: MigrateTenantsReport['status'] = 'DONE';
    if (failed > 0) status = 'FAILED';
    if (notAttempted > 0) status = 'STOPPED';

    if (!options.dryRun) await finishRun(pool, runId, status, notAttempted);
    runLog.info({ status, migrated: outcomes.length - failed, failed, notAttempted }, 'tenant migration run finished');
    return { runId, status, outcomes, failed, skipped, notAttempted };
  } finally {
    await lock?.release();
  }
}

interface ChosenTenants {
  runId: string;
  tenants: FleetTenant[];
  skipped: number;
  canary: number;
  resumed: boolean;
}

/** Open a new run or reopen a recorded one, and list the tenants it still has to migrate. */
async function chooseTenants(
  pool: pg.Pool,
  options: MigrateTenantsOptions,
  migrations: readonly TenantMigrationEntry[],
  onLock: (lock: RunLock) => void,
): Promise<ChosenTenants> {
  if (options.resume !== undefined) {
    const resumed = await resumeRun(pool, options.resume, { dryRun: options.dryRun === true, onLock });
    const selected = await selectTenants(pool, resumed.tenantCodes ?? undefined, { skipMissing: true });
    const remaining = selected.filter((tenant) => !resumed.succeeded.has(tenant.id));
    // Tenants that failed in this run go first, so a canary wave retries them before anything new.
    const ordered = [...remaining.filter((tenant) => resumed.failed.has(tenant.id)), ...remaining.filter((tenant) => !resumed.failed.has(tenant.id))];
    return { runId: resumed.runId, tenants: ordered, skipped: selected.length - remaining.length, canary: resumed.canary ?? 0, resumed: true };
  }

  const tenants = await selectTenants(pool, options.tenants);
  const runId = randomUUID();
  if (!options.dryRun) {
    onLock(await holdRunLock(pool, runId));
    await openRun(pool, {
      runId,
      targetVersion: migrations[migrations.length - 1]?.name ?? null,
      tenantCodes: options.tenants ? tenants.map((tenant) => tenant.code) : null,
      canary: options.canary ?? null,
      startedBy: options.startedBy ?? 'unknown',
      total: tenants.length,
    });
  }
  return { runId, tenants, skipped: 0, canary: options.canary ?? 0, resumed: false };
}

/** Migrate the canary wave, then (if every canary succeeded) the rest. */
async function migrateInWaves(
  pool: pg.Pool,
  orm: MikroORM,
  log: Logger,
  runId: string,
  tenants: FleetTenant[],
  canary: number,
  options: MigrateTenantsOptions & { migrations: readonly TenantMigrationEntry[] },
): Promise<TenantMigrationOutcome[]> {
  const outcomes: TenantMigrationOutcome[] = [];
  const aborted = () => options.signal?.aborted === true;
  const upToDate = new UpToDateResults(pool, runId, options.dryRun === true);

  const migrateWave = (wave: FleetTenant[], concurrency: number) =>
    forEachConcurrently(
      wave,
      concurrency,
      async (tenant) => {
        const outcome = await migrateOne(pool, orm, runId, tenant, upToDate, options);
        if (outcome.status === 'FAILED') log.error({ tenant: tenant.code, error: outcome.error }, 'tenant migration failed');
        outcomes.push(outcome);
        options.onResult?.(outcome, outcomes.length, tenants.length);
      },
      aborted,
    );

  try {
    const firstWave = canary > 0 ? tenants.slice(0, canary) : [];
    if (firstWave.length > 0) {
      await migrateWave(firstWave, Math.min(options.concurrency, firstWave.length));
      if (outcomes.some((outcome) => outcome.status === 'FAILED')) {
        log.warn({ canary: firstWave.length }, 'a canary tenant failed; the run stops before the other tenants');
        return outcomes;
      }
    }
    await migrateWave(tenants.slice(firstWave.length), options.concurrency);
    return outcomes;
  } finally {
    await upToDate.flush();
  }
}

async function migrateOne(
  pool: pg.Pool,
  orm: MikroORM,
  runId: string,
  tenant: FleetTenant,
  upToDate: UpToDateResults,
  options: MigrateTenantsOptions & { migrations: readonly TenantMigrationEntry[] },
): Promise<TenantMigrationOutcome> {
  const identity = { code: tenant.code, schemaName: tenant.schemaName };
  const client = await pool.connect();
  let broken: Error | undefined;

  try {
    if (await isUpToDate(client, tenant, options.migrations)) {
      await upToDate.add(tenant);
      return { ...identity, status: 'OK', migrations: [] };
    }

    await client.query('BEGIN');
    const result = await applyTenantMigrations(client, orm, { id: tenant.id, schemaName: tenant.schemaName }, {
      dryRun: options.dryRun,
      migrations: options.migrations,
    });

    if (options.dryRun) {
      await client.query('ROLLBACK');
      return { ...identity, status: 'OK', migrations: result.pending };
    }

    if (result.applied.length > 0) {
      await client.query('UPDATE control.tenant SET schema_version = $2, updated_at = now() WHERE id = $1', [
        tenant.id,
        result.applied[result.applied.length - 1],
      ]);
    }
    await recordResult(client, runId, tenant, 'OK', result.applied, null);
    await client.query('COMMIT');
    return { ...identity, status: 'OK', migrations: result.applied };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    try {
      await client.query('ROLLBACK');
      if (!options.dryRun) await recordResult(client, runId, tenant, 'FAILED', [], message);
    } catch (recordError) {
      // The tenant's failure is still returned; only its ledger row is lost, and the
      // connection, in an unknown state, is destroyed rather than reused.
      broken = recordError as Error;
    }
    return { ...identity, status: 'FAILED', migrations: [], error: message };
  } finally {
    client.release(broken);
  }
}

/**
 * Check, without a transaction or a lock, whether the schema's ledger already lists
 * every migration. Most schemas of a run are, and this costs one query instead of the
 * locked transaction. A migration committing meanwhile only adds names, so a schema
 * seen as up to date stays so. A missing ledger table means not up to date.
 */
async function isUpToDate(client: pg.ClientBase, tenant: FleetTenant, migrations: readonly TenantMigrationEntry[]): Promise<boolean> {
  try {
    const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${client.escapeIdentifier(tenant.schemaName)}.mikro_orm_migrations`);
    const done = new Set(rows.map((row) => row.name));
    return migrations.every((entry) => done.has(entry.name));
  } catch (error) {
    // The locked path creates the ledger table, or reports the missing schema.
    if (sqlStateOf(error) === SqlState.undefinedTable || sqlStateOf(error) === SqlState.invalidSchemaName) return false;
    throw error;
  }
}
