import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { StrataError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { applyTenantMigrations, type TenantMigrationEntry } from './applyTenantMigrations.ts';

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
  /** Restrict the run to these tenant codes. */
  tenants?: string[];
  /** Called once per tenant as it finishes, with its position in the run. */
  onResult?: (outcome: TenantMigrationOutcome, done: number, total: number) => void;
  /** Tests replace the template to force a failure in one schema. */
  migrations?: readonly TenantMigrationEntry[];
}

export interface MigrateTenantsReport {
  runId: string;
  outcomes: TenantMigrationOutcome[];
  failed: number;
}

interface TenantRow {
  id: string;
  code: string;
  schema_name: string;
}

/**
 * Bring every tenant schema (or the named ones) to the template's version, a bounded
 * number at a time. Each schema migrates in its own transaction together with its
 * registry version, so it is either fully at the new version or untouched. A failure
 * is recorded in `control.migration_result` and the run goes on with the others.
 */
export async function migrateTenants(
  pool: pg.Pool,
  orm: MikroORM,
  log: Logger,
  options: MigrateTenantsOptions,
): Promise<MigrateTenantsReport> {
  const runId = randomUUID();
  const tenants = await listTenants(pool, options.tenants);
  const outcomes: TenantMigrationOutcome[] = [];
  let next = 0;

  const worker = async (): Promise<void> => {
    while (next < tenants.length) {
      const tenant = tenants[next++]!;
      const outcome = await migrateOne(pool, orm, runId, tenant, options);

      if (outcome.status === 'FAILED') {
        log.error({ runId, tenant: tenant.code, error: outcome.error }, 'tenant migration failed');
      }
      outcomes.push(outcome);
      options.onResult?.(outcome, outcomes.length, tenants.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, tenants.length) }, worker));

  return { runId, outcomes, failed: outcomes.filter((outcome) => outcome.status === 'FAILED').length };
}

async function listTenants(pool: pg.Pool, codes: string[] | undefined): Promise<TenantRow[]> {
  // A dry run on a database whose control schema does not exist yet has no tenants.
  const registry = await pool.query<{ present: boolean }>("SELECT to_regclass('control.tenant') IS NOT NULL AS present");
  if (!registry.rows[0]?.present) return [];

  const { rows } = await pool.query<TenantRow>(
    `SELECT id, code, schema_name FROM control.tenant
      WHERE $1::text[] IS NULL OR code = ANY ($1::text[])
      ORDER BY code`,
    [codes ?? null],
  );

  const missing = (codes ?? []).filter((code) => !rows.some((row) => row.code === code));
  if (missing.length > 0) {
    throw new StrataError('NOT_FOUND', `unknown tenant code(s): ${missing.join(', ')}; see \`strata tenant list\``, 404);
  }
  return rows;
}

async function migrateOne(
  pool: pg.Pool,
  orm: MikroORM,
  runId: string,
  tenant: TenantRow,
  options: MigrateTenantsOptions,
): Promise<TenantMigrationOutcome> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await applyTenantMigrations(client, orm, { id: tenant.id, schemaName: tenant.schema_name }, {
      dryRun: options.dryRun,
      migrations: options.migrations,
    });

    if (options.dryRun) {
      await client.query('ROLLBACK');
      return { code: tenant.code, schemaName: tenant.schema_name, status: 'OK', migrations: result.pending };
    }

    if (result.applied.length > 0) {
      await client.query('UPDATE control.tenant SET schema_version = $2, updated_at = now() WHERE id = $1', [
        tenant.id,
        result.applied[result.applied.length - 1],
      ]);
    }
    await recordResult(client, runId, tenant, 'OK', result.applied, null);
    await client.query('COMMIT');
    return { code: tenant.code, schemaName: tenant.schema_name, status: 'OK', migrations: result.applied };
  } catch (error) {
    await client.query('ROLLBACK');
    const message = error instanceof Error ? error.message : String(error);
    if (!options.dryRun) await recordResult(client, runId, tenant, 'FAILED', [], message);
    return { code: tenant.code, schemaName: tenant.schema_name, status: 'FAILED', migrations: [], error: message };
  } finally {
    client.release();
  }
}

async function recordResult(
  db: pg.ClientBase,
  runId: string,
  tenant: TenantRow,
  status: 'OK' | 'FAILED',
  applied: string[],
  error: string | null,
): Promise<void> {
  await db.query(
    `INSERT INTO control.migration_result (run_id, tenant_id, schema_name, status, applied, error)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [runId, tenant.id, tenant.schema_name, status, applied, error],
  );
}
