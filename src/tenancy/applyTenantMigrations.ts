import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Migration } from '@mikro-orm/migrations';
import { Roles } from '../db/roles.ts';
import { TENANT_MIGRATIONS } from '../../tenant-template/index.ts';

export interface TenantMigrationEntry {
  name: string;
  class: new (...args: ConstructorParameters<typeof Migration>) => Migration;
}

export interface TenantMigrationResult {
  applied: string[];
  pending: string[];
}

/**
 * Apply the pending tenant migrations to one schema, inside the caller's open
 * transaction, so they commit or roll back with whatever else the caller does
 * (onboarding registers the tenant in that same transaction).
 *
 * A transaction-level advisory lock per schema serialises concurrent runners: the
 * second one waits, then finds nothing pending. The ledger is the schema's own
 * `mikro_orm_migrations` table, in MikroORM's layout, so MikroORM's tooling reads it.
 * The migrations run as the owner role with the schema as `search_path` and the
 * tenant's id as `app.tenant_id`: RLS is forced on the owner too, so a migration that
 * rewrites rows would otherwise see none. All three settings end with the transaction.
 */
export async function applyTenantMigrations(
  client: pg.ClientBase,
  orm: MikroORM,
  tenant: { id: string; schemaName: string },
  options: { dryRun?: boolean; migrations?: readonly TenantMigrationEntry[] } = {},
): Promise<TenantMigrationResult> {
  const migrations = options.migrations ?? TENANT_MIGRATIONS;
  const schemaName = tenant.schemaName;
  const quotedSchema = client.escapeIdentifier(schemaName);

  await client.query("SELECT pg_advisory_xact_lock(hashtext('strata.tenant_migrate'), hashtext($1))", [schemaName]);
  await client.query(`SET LOCAL ROLE ${client.escapeIdentifier(Roles.owner)}`);
  await client.query("SELECT set_config('search_path', $1, true), set_config('app.tenant_id', $2, true)", [quotedSchema, tenant.id]);

  await client.query(`
    CREATE TABLE IF NOT EXISTS mikro_orm_migrations (
      id serial PRIMARY KEY,
      name varchar(255) NOT NULL,
      executed_at timestamptz NOT NULL DEFAULT current_timestamp
    )`);
  const { rows } = await client.query<{ name: string }>('SELECT name FROM mikro_orm_migrations');
  const done = new Set(rows.map((row) => row.name));
  const pending = migrations.filter((entry) => !done.has(entry.name)).map((entry) => entry.name);

  const applied: string[] = [];
  if (!options.dryRun) {
    for (const entry of migrations) {
      if (done.has(entry.name)) continue;
      await runOne(client, orm, entry);
      applied.push(entry.name);
    }
  }

  // Back to the session's own role for the caller's remaining work, still transaction-local.
  await client.query('SET LOCAL ROLE NONE');
  return { applied, pending };
}

async function runOne(client: pg.ClientBase, orm: MikroORM, entry: TenantMigrationEntry): Promise<void> {
  const migration = new entry.class(orm.em.getDriver(), orm.config);
  await migration.up();

  const queries = migration.getQueries();
  if (queries.some((query) => typeof query !== 'string')) {
    throw new Error(`tenant migration ${entry.name} must add plain SQL strings only`);
  }

  // One round trip per migration: the simple query protocol runs the statements in
  // order, inside the open transaction. The newline before each semicolon ends a
  // trailing line comment first.
  await client.query(queries.join('\n;\n'));
  await client.query('INSERT INTO mikro_orm_migrations (name) VALUES ($1)', [entry.name]);
}
