import type pg from 'pg';
import { recordAuditEvent } from '../../control/audit.ts';
import type { TenantRef } from '../../db/tenantContext.ts';
import { StrataError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { KeyProvider } from '../keyProvider.ts';
import { SEALED_COLUMNS, type SealedColumn } from '../sealedColumns.ts';
import type { TenantDeks } from '../tenantDeks.ts';
import { reencryptColumn, type ColumnProgress } from './reencryptColumn.ts';
import { readTenantKeyRow, type TenantKeyRow } from './tenantKeyRow.ts';

export interface DekRotationDeps {
  pool: pg.Pool;
  keys: KeyProvider;
  deks: TenantDeks;
  log: Logger;
  /** The sealed columns to re-encrypt; tests pass their own. */
  columns?: readonly SealedColumn[];
  /** Rows re-encrypted per transaction. */
  batchSize?: number;
}

export interface DekRotationResult {
  keyVersion: number;
  /** True when this run continued a rotation an earlier run had started. */
  resumed: boolean;
  columns: ColumnProgress[];
}

/**
 * Replace the tenant's data key and re-encrypt every sealed value under the new one.
 *
 * 1. A new data key is made and stored as `pending_wrapped_dek`, unless an earlier,
 *    interrupted run left one there, which is then reused.
 * 2. Every registered sealed column is walked in batches. A value that opens under the
 *    new key is skipped; one that opens under the old key is re-encrypted. So a run
 *    repeated after a crash does only the remaining work.
 * 3. The pending key replaces the current one, and the columns are walked once more to
 *    catch values written with the old key meanwhile.
 *
 * NOTE: a caller that fetched the old key before step 3 and writes after the last walk
 * leaves a value the new key cannot open. Callers that read with `withDek` and
 * `openSecret` during step 2 fail on values already re-encrypted, unless they use
 * `TenantDeks.openSealed`, which tries the pending key too. Run it in a quiet period.
 */
export async function rotateTenantDek(deps: DekRotationDeps, tenant: TenantRef, actor: string): Promise<DekRotationResult> {
  const log = deps.log.child({ tenant: tenant.code, tenantId: tenant.id });
  const columns = deps.columns ?? SEALED_COLUMNS;
  const { row, resumed } = await startRotation(deps, tenant);
  log.info({ resumed, pendingKeyVersion: row.pendingKeyVersion }, 'data key rotation started');

  const oldDek = await deps.keys.unwrapDek(tenant, { keyRef: row.keyRef, wrappedDek: row.wrappedDek });
  const newDek = await deps.keys.unwrapDek(tenant, { keyRef: row.keyRef, wrappedDek: row.pendingWrappedDek! }).catch((error: unknown) => {
    oldDek.fill(0);
    throw error;
  });

  try {
    const progress: ColumnProgress[] = [];
    for (const column of columns) {
      progress.push(await reencryptColumn(deps.pool, tenant, column, { oldDek, newDek, batchSize: deps.batchSize ?? 500 }, log));
    }

    await finishRotation(deps.pool, tenant, row);
    deps.deks.evict(tenant.id);

    for (const [index, column] of columns.entries()) {
      const late = await reencryptColumn(deps.pool, tenant, column, { oldDek, newDek, batchSize: deps.batchSize ?? 500 }, log);
      progress[index]!.reencrypted += late.reencrypted;
    }

    const result = { keyVersion: row.pendingKeyVersion!, resumed, columns: progress };
    log.info({ ...result }, 'data key rotation finished');
    await recordAuditEvent(deps.pool, { actor, action: 'tenant.dek_rotated', tenant, details: { ...result } });
    return result;
  } finally {
    oldDek.fill(0);
    newDek.fill(0);
  }
}

/** Store a new pending data key, or return the one an interrupted run left. */
async function startRotation(deps: DekRotationDeps, tenant: TenantRef): Promise<{ row: TenantKeyRow; resumed: boolean }> {
  const row = await readTenantKeyRow(deps.pool, tenant.id);
  if (row.pendingWrappedDek) return { row, resumed: true };

  const next = await deps.keys.createDek(tenant, row.keyRef);
  const { rowCount } = await deps.pool.query(
    `UPDATE control.tenant SET pending_wrapped_dek = $2, pending_key_version = $3, updated_at = now()
      WHERE id = $1 AND pending_wrapped_dek IS NULL`,
    [tenant.id, next.wrappedDek, next.keyVersion ?? 1],
  );

  // Another run stored its pending key first: continue with that one.
  const current = await readTenantKeyRow(deps.pool, tenant.id);
  return { row: current, resumed: rowCount !== 1 };
}

async function finishRotation(pool: pg.Pool, tenant: TenantRef, row: TenantKeyRow): Promise<void> {
  const { rowCount } = await pool.query(
    `UPDATE control.tenant
        SET wrapped_dek = pending_wrapped_dek, key_version = pending_key_version,
            pending_wrapped_dek = NULL, pending_key_version = NULL, updated_at = now()
      WHERE id = $1 AND pending_wrapped_dek = $2`,
    [tenant.id, row.pendingWrappedDek],
  );
  if (rowCount !== 1) {
    throw StrataError.conflict('TENANT_KEY_BUSY', `the pending data key of tenant ${tenant.code} changed during the rotation; run the rotation again`);
  }
}
