import type pg from 'pg';
import { StrataError } from '../../errors.ts';

/** A tenant's key material as the registry stores it. */
export interface TenantKeyRow {
  id: string;
  code: string;
  keyRef: string;
  wrappedDek: string;
  keyVersion: number;
  pendingWrappedDek: string | null;
  pendingKeyVersion: number | null;
}

/** Read a tenant's key columns, optionally locking the row (`FOR UPDATE`) in the caller's transaction. */
export async function readTenantKeyRow(db: pg.Pool | pg.ClientBase, tenantId: string, options: { lock?: boolean } = {}): Promise<TenantKeyRow> {
  const { rows } = await db.query<{
    id: string;
    code: string;
    key_ref: string;
    wrapped_dek: string;
    key_version: number;
    pending_wrapped_dek: string | null;
    pending_key_version: number | null;
  }>(
    `SELECT id, code, key_ref, wrapped_dek, key_version, pending_wrapped_dek, pending_key_version
       FROM control.tenant WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`,
    [tenantId],
  );
  const row = rows[0];
  if (!row) throw StrataError.notFound(`tenant ${tenantId}`);
  return {
    id: row.id,
    code: row.code,
    keyRef: row.key_ref,
    wrappedDek: row.wrapped_dek,
    keyVersion: row.key_version,
    pendingWrappedDek: row.pending_wrapped_dek,
    pendingKeyVersion: row.pending_key_version,
  };
}
