import type pg from 'pg';
import { TENANT_SCHEMA_PATTERN } from '../tenantTables.ts';

/**
 * Return the names of the tenant schemas in this database: those registered in
 * `control.tenant` and any other schema with the tenant prefix. Before the first
 * migration there is no registry, and only the prefix counts.
 */
export async function listTenantSchemas(db: pg.ClientBase | pg.Pool): Promise<string[]> {
  const registry = await db.query<{ present: boolean }>("SELECT to_regclass('control.tenant') IS NOT NULL AS present");
  const registered = registry.rows[0]?.present
    ? (await db.query<{ schema_name: string }>('SELECT schema_name FROM control.tenant')).rows.map((row) => row.schema_name)
    : [];

  const { rows } = await db.query<{ nspname: string }>(
    'SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 OR nspname = ANY ($2::text[]) ORDER BY nspname',
    [TENANT_SCHEMA_PATTERN, registered],
  );
  return rows.map((row) => row.nspname);
}
