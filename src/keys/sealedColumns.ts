import { Roles, type FunctionRole } from '../db/roles.ts';

/**
 * A tenant-schema column that contains values made by `sealSecret` (format `sv1`) with
 * the tenant's data key. `strata keys rotate-dek` re-encrypts every registered column
 * under a new data key, so a table with sealed values must be listed here.
 */
export interface SealedColumn {
  /** Table in the tenant schema, unquoted. */
  table: string;
  /** Column of sealed text; NULL means no secret. */
  column: string;
  /** Primary-key column, used to walk the table in batches. */
  keyColumn: string;
  /** SQL type of `keyColumn`, to compare keys without a cast on the column. */
  keyType: 'bigint' | 'uuid' | 'text';
  /** Function role with SELECT and UPDATE on the column. */
  role: FunctionRole;
}

/**
 * Every sealed column of the tenant template. A table added by a tenant migration is
 * one line here; tenants whose schema predates that migration are skipped for it.
 */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  // Tier-2 target credentials (tenant migration T0009).
  { table: 'tier_target', column: 'credentials_sealed', keyColumn: 'share_name', keyType: 'text', role: Roles.planner },
];

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Check a registry entry's names before they are quoted into SQL. */
export function assertSealedColumn(entry: SealedColumn): void {
  for (const name of [entry.table, entry.column, entry.keyColumn]) {
    if (!IDENTIFIER.test(name)) throw new Error(`sealed column registry entry has an invalid identifier ${JSON.stringify(name)}`);
  }
}
