import type pg from 'pg';
import { recordAuditEvent } from '../../control/audit.ts';
import { StrataError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { KeyProvider } from '../keyProvider.ts';
import { readTenantKeyRow } from './tenantKeyRow.ts';

export interface KeyRotationDeps {
  pool: pg.Pool;
  keys: KeyProvider;
  log: Logger;
}

export interface RewrapResult {
  keyRef: string;
  /** Key version of the stored data key before and after. */
  fromVersion: number;
  toVersion: number;
  /** True when a pending data key (a data-key rotation in progress) was rewrapped too. */
  pendingRewrapped: boolean;
}

/** Times a rewrap is retried when the registry row changes under it. */
const REWRAP_ATTEMPTS = 3;

/**
 * Add a version to the tenant's key-encryption key, then rewrap its stored data key
 * under it. A crash between the two leaves the data key wrapped by the previous
 * version, which still decrypts. Running the command again, or `rewrapTenantDek`,
 * finishes the job.
 */
export async function rotateTenantKey(deps: KeyRotationDeps, tenant: { id: string; code: string }, actor: string): Promise<RewrapResult & { latestVersion: number }> {
  const row = await readTenantKeyRow(deps.pool, tenant.id);
  const latestVersion = await deps.keys.rotateKey(tenant, row.keyRef);
  deps.log.info({ tenant: tenant.code, keyRef: row.keyRef, latestVersion }, 'tenant key rotated');
  await recordAuditEvent(deps.pool, { actor, action: 'tenant.key_rotated', tenant, details: { keyRef: row.keyRef, latestVersion } });

  return { ...(await rewrapTenantDek(deps, tenant, actor)), latestVersion };
}

/**
 * Rewrap the tenant's stored data key, and a pending one, under the latest key version.
 * Vault decrypts and re-encrypts inside itself, so no plaintext key reaches Strata. The
 * registry row is updated only if it still contains the ciphertext that was rewrapped.
 */
export async function rewrapTenantDek(deps: KeyRotationDeps, tenant: { id: string; code: string }, actor: string): Promise<RewrapResult> {
  for (let attempt = 1; attempt <= REWRAP_ATTEMPTS; attempt += 1) {
    const row = await readTenantKeyRow(deps.pool, tenant.id);
    const current = await deps.keys.rewrapDek(tenant, { keyRef: row.keyRef, wrappedDek: row.wrappedDek });
    const pending = row.pendingWrappedDek ? await deps.keys.rewrapDek(tenant, { keyRef: row.keyRef, wrappedDek: row.pendingWrappedDek }) : undefined;

    const { rowCount } = await deps.pool.query(
      `UPDATE control.tenant
          SET wrapped_dek = $2, key_version = $3, pending_wrapped_dek = $4, pending_key_version = $5, updated_at = now()
        WHERE id = $1 AND wrapped_dek = $6 AND pending_wrapped_dek IS NOT DISTINCT FROM $7`,
      [tenant.id, current.wrappedDek, current.keyVersion ?? row.keyVersion, pending?.wrappedDek ?? null, pending ? (pending.keyVersion ?? null) : null, row.wrappedDek, row.pendingWrappedDek],
    );
    if (rowCount === 1) {
      const result = { keyRef: row.keyRef, fromVersion: row.keyVersion, toVersion: current.keyVersion ?? row.keyVersion, pendingRewrapped: pending !== undefined };
      deps.log.info({ tenant: tenant.code, ...result }, 'tenant data key rewrapped');
      await recordAuditEvent(deps.pool, { actor, action: 'tenant.dek_rewrapped', tenant, details: { ...result } });
      return result;
    }
    deps.log.warn({ tenant: tenant.code, attempt }, 'tenant key row changed during the rewrap; reading it again');
  }

  throw StrataError.conflict('TENANT_KEY_BUSY', `the data key of tenant ${tenant.code} kept changing during the rewrap; wait for a running data-key rotation to finish and retry`);
}
