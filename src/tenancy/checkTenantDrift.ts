import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../log.ts';
import type { TenantMigrationEntry } from './applyTenantMigrations.ts';
import { forEachConcurrently } from './boundedConcurrency.ts';
import { describeSchema, type SchemaDescription } from './describeSchema.ts';
import { selectTenants, type FleetTenant } from './fleetTenants.ts';
import { compareSchemas, type SchemaDifference } from './schemaDrift.ts';
import { describeTemplate } from './templateReference.ts';

export interface TenantDriftOutcome {
  code: string;
  schemaName: string;
  differences: SchemaDifference[];
  /** Set when the schema could not be read at all. */
  error?: string;
}

export interface DriftCheckOptions {
  concurrency: number;
  tenants?: string[];
  onResult?: (outcome: TenantDriftOutcome, done: number, total: number) => void;
  /** Tests replace the template to compare against another version. */
  migrations?: readonly TenantMigrationEntry[];
}

export interface DriftReport {
  outcomes: TenantDriftOutcome[];
  /** Tenants with at least one difference. */
  drifted: number;
  /** Tenants whose schema could not be read. */
  failed: number;
}

/**
 * Compare each tenant schema's catalogue with what the template migrations produce
 * (built afresh in a scratch schema that is rolled back) and list the differences.
 * A registry version that disagrees with the schema's own ledger is a difference too.
 * Nothing is changed.
 */
export async function checkTenantDrift(pool: pg.Pool, orm: MikroORM, log: Logger, options: DriftCheckOptions): Promise<DriftReport> {
  const template = await describeTemplate(pool, orm, options.migrations);
  const tenants = await selectTenants(pool, options.tenants);
  const outcomes: TenantDriftOutcome[] = [];

  await forEachConcurrently(tenants, options.concurrency, async (tenant) => {
    const outcome = await checkOne(pool, template, tenant);
    if (outcome.error) log.error({ tenant: tenant.code, error: outcome.error }, 'tenant schema could not be described');
    outcomes.push(outcome);
    options.onResult?.(outcome, outcomes.length, tenants.length);
  });

  return {
    outcomes,
    drifted: outcomes.filter((outcome) => outcome.differences.length > 0).length,
    failed: outcomes.filter((outcome) => outcome.error !== undefined).length,
  };
}

async function checkOne(pool: pg.Pool, template: SchemaDescription, tenant: FleetTenant): Promise<TenantDriftOutcome> {
  let description: SchemaDescription;
  try {
    description = await readOnly(pool, (client) => describeSchema(client, tenant.schemaName, tenant.id));
  } catch (error) {
    return { code: tenant.code, schemaName: tenant.schemaName, differences: [], error: error instanceof Error ? error.message : String(error) };
  }

  if (description.size === 0) {
      return { code: tenant.code, schemaName: tenant.schemaName, differences: [{ object: `schema ${tenant.schemaName}`, kind: 'missing', expected: 'the tenant schema' }] };
    }
  const differences = compareSchemas(template, description);
  const registryDifference = compareRegistryVersion(tenant, description);
  if (registryDifference) differences.push(registryDifference);
  return { code: tenant.code, schemaName: tenant.schemaName, differences };
}

/** Run `work` in a read-only transaction that is always rolled back. */
async function readOnly<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN READ ONLY');
    return await work(client);
  } finally {
    // A connection whose rollback failed is in an unknown state: destroy it.
    const rollbackError = await client.query('ROLLBACK').then(
      () => undefined,
      (error: Error) => error,
    );
    client.release(rollbackError);
  }
}

/** The registry's `schema_version` must name the last migration in the schema's own ledger. */
function compareRegistryVersion(tenant: FleetTenant, description: SchemaDescription): SchemaDifference | undefined {
  const last = lastLedgerEntry(description);
  if (last === tenant.schemaVersion) return undefined;
  return { object: 'registry schema_version', kind: 'changed', expected: last ?? '(no migration)', actual: tenant.schemaVersion ?? '(none)' };
}

/** Return the migration recorded last in a described ledger, whose values read `applied #<position>`. */
export function lastLedgerEntry(description: SchemaDescription): string | null {
  let last: { name: string; position: number } | null = null;
  for (const [key, value] of description) {
    if (!key.startsWith('migration ')) continue;
    const position = Number(value.slice('applied #'.length));
    if (!last || position > last.position) last = { name: key.slice('migration '.length), position };
  }
  return last?.name ?? null;
}
