import type pg from 'pg';
import { StrataError } from '../errors.ts';

/** A tenant as the fleet runners need it. */
export interface FleetTenant {
  id: string;
  code: string;
  schemaName: string;
  schemaVersion: string | null;
}

/**
 * Load the tenants a fleet command works on: every registered tenant in code order,
 * or the named ones in the order given (which is how an operator picks canaries). An
 * unknown code is an error unless `skipMissing` is set, as a resumed run does for
 * tenants deleted since it started.
 */
export async function selectTenants(pool: pg.Pool, codes?: readonly string[], options: { skipMissing?: boolean } = {}): Promise<FleetTenant[]> {
  // A dry run on a database whose control schema does not exist yet has no tenants.
  const registry = await pool.query<{ present: boolean }>("SELECT to_regclass('control.tenant') IS NOT NULL AS present");
  if (!registry.rows[0]?.present) return [];

  const { rows } = await pool.query<{ id: string; code: string; schema_name: string; schema_version: string | null }>(
    `SELECT id, code, schema_name, schema_version FROM control.tenant
      WHERE $1::text[] IS NULL OR code = ANY ($1::text[])
      ORDER BY code`,
    [codes ?? null],
  );
  const tenants = rows.map((row) => ({ id: row.id, code: row.code, schemaName: row.schema_name, schemaVersion: row.schema_version }));
  if (!codes) return tenants;

  const byCode = new Map(tenants.map((tenant) => [tenant.code, tenant]));
  const missing = codes.filter((code) => !byCode.has(code));
  if (missing.length > 0 && !options.skipMissing) {
    throw new StrataError('NOT_FOUND', `unknown tenant code(s): ${missing.join(', ')}; see \`strata tenant list\``, 404);
  }
  return [...new Set(codes)].flatMap((code) => byCode.get(code) ?? []);
}
