import type pg from 'pg';
import { withTenant, type TenantRef } from '../../db/tenantContext.ts';
import type { Logger } from '../../log.ts';
import { openSecret, sealSecret } from '../envelope.ts';
import { assertSealedColumn, type SealedColumn } from '../sealedColumns.ts';

export interface ColumnProgress {
  table: string;
  column: string;
  /** False when the tenant's schema has no such table yet (an older schema version). */
  present: boolean;
  scanned: number;
  reencrypted: number;
}

/**
 * Re-encrypt one sealed column of one tenant from `oldDek` to `newDek`, one batch per
 * transaction under the column's function role. A row is updated only if it still
 * contains the value that was read, so a concurrent write is not overwritten with a
 * stale secret. The next walk picks that row up instead.
 */
export async function reencryptColumn(
  pool: pg.Pool,
  tenant: TenantRef,
  column: SealedColumn,
  keys: { oldDek: Buffer; newDek: Buffer; batchSize: number },
  log: Logger,
): Promise<ColumnProgress> {
  assertSealedColumn(column);
  const progress: ColumnProgress = { table: column.table, column: column.column, present: true, scanned: 0, reencrypted: 0 };
  let after: string | null = null;

  for (;;) {
    const batch: { rows: number; last: string | null; changed: number } | undefined = await withTenant(pool, tenant, column.role, async (client) => {
      // Looked up in the catalogue, which needs no privilege: to_regclass returns NULL
      // when the role lacks USAGE on the schema, and a column skipped by mistake would
      // be unreadable once the new key replaces the old one.
      const { rows: exists } = await client.query<{ present: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relname = $2) AS present`,
        [tenant.schemaName, column.table],
      );
      if (!exists[0]?.present) return undefined;
      return reencryptBatch(client, tenant, column, keys, after);
    });

    if (!batch) {
      progress.present = false;
      return progress;
    }
    progress.scanned += batch.rows;
    progress.reencrypted += batch.changed;
    if (batch.rows < keys.batchSize) break;
    after = batch.last;
  }

  log.info({ ...progress }, 'sealed column re-encrypted');
  return progress;
}

async function reencryptBatch(
  client: pg.PoolClient,
  tenant: TenantRef,
  column: SealedColumn,
  keys: { oldDek: Buffer; newDek: Buffer; batchSize: number },
  after: string | null,
): Promise<{ rows: number; last: string | null; changed: number }> {
  const table = client.escapeIdentifier(column.table);
  const value = client.escapeIdentifier(column.column);
  const key = client.escapeIdentifier(column.keyColumn);

  const { rows } = await client.query<{ key: string; value: string }>(
    `SELECT ${key}::text AS key, ${value} AS value FROM ${table}
      WHERE ${value} IS NOT NULL AND ($1::${column.keyType} IS NULL OR ${key} > $1::${column.keyType})
      ORDER BY ${key} LIMIT $2`,
    [after, keys.batchSize],
  );

  const updates = { keys: [] as string[], old: [] as string[], fresh: [] as string[] };
  for (const row of rows) {
    const fresh = reseal(tenant, column, row, keys);
    if (fresh === undefined) continue;
    updates.keys.push(row.key);
    updates.old.push(row.value);
    updates.fresh.push(fresh);
  }

  let changed = 0;
  if (updates.keys.length > 0) {
    const result = await client.query(
      `UPDATE ${table} AS t SET ${value} = u.fresh
         FROM unnest($1::${column.keyType}[], $2::text[], $3::text[]) AS u(key, old, fresh)
        WHERE t.${key} = u.key AND t.${value} = u.old`,
      [updates.keys, updates.old, updates.fresh],
    );
    changed = result.rowCount ?? 0;
  }
  return { rows: rows.length, last: rows.at(-1)?.key ?? null, changed };
}

/** Return the value sealed under the new key, or undefined when it already is. */
function reseal(tenant: TenantRef, column: SealedColumn, row: { key: string; value: string }, keys: { oldDek: Buffer; newDek: Buffer }): string | undefined {
  if (opens(keys.newDek, tenant.id, row.value)) return undefined;

  let plaintext: Buffer;
  try {
    plaintext = openSecret(keys.oldDek, tenant.id, row.value);
  } catch (error) {
    throw new Error(
      `${column.table}.${column.column} of row ${column.keyColumn}=${row.key} opens under neither the current nor the new data key; ` +
        'fix or clear that value, then run the rotation again',
      { cause: error },
    );
  }
  try {
    return sealSecret(keys.newDek, tenant.id, plaintext);
  } finally {
    plaintext.fill(0);
  }
}

function opens(dek: Buffer, tenantId: string, sealed: string): boolean {
  try {
    openSecret(dek, tenantId, sealed).fill(0);
    return true;
  } catch {
    // An integrity failure here only means "not sealed with this key".
    return false;
  }
}
