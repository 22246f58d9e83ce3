import { recordAuditEvent } from '../../control/audit.ts';
import { StrataError } from '../../errors.ts';
import type { KeyRotationDeps } from './rotateTenantKey.ts';
import { readTenantKeyRow } from './tenantKeyRow.ts';

/** A stored ciphertext and the key version that made it. */
export interface StoredCiphertext {
  location: string;
  keyVersion: number;
}

/**
 * Raise the tenant key's `min_decryption_version`, after which ciphertext of older
 * versions can no longer be decrypted. The only Transit ciphertexts Strata stores are
 * the tenant's wrapped data key and, during a data-key rotation, the pending one. The
 * change is rejected, naming them, while either is older than `version`. The registry
 * row stays locked until Vault has the new setting, so no older ciphertext is written
 * in between.
 */
export async function raiseMinDecryptionVersion(
  deps: KeyRotationDeps,
  tenant: { id: string; code: string },
  version: number,
  actor: string,
): Promise<{ previous: number; current: number }> {
  const client = await deps.pool.connect();
  try {
    await client.query('BEGIN');
    const row = await readTenantKeyRow(client, tenant.id, { lock: true });
    const versions = await deps.keys.readVersions(tenant, row.keyRef);

    if (version > versions.latestVersion) {
      throw StrataError.invalid('KEY_VERSION_INVALID', `tenant ${tenant.code}'s key has versions up to ${versions.latestVersion}; ${version} does not exist yet`);
    }
    if (version < versions.minDecryptionVersion) {
      throw StrataError.invalid(
        'KEY_VERSION_INVALID',
        `the minimum decryption version of tenant ${tenant.code} is already ${versions.minDecryptionVersion}; lowering it to ${version} is not allowed here`,
      );
    }

    const stale = staleCiphertexts(row, version);
    if (stale.length > 0) {
      const list = stale.map((item) => `${item.location} (version ${item.keyVersion})`).join(', ');
      throw StrataError.conflict(
        'CIPHERTEXT_BELOW_MIN_VERSION',
        `cannot raise the minimum decryption version of tenant ${tenant.code} to ${version}: ${list} would become unreadable; run \`strata keys rewrap --tenant ${tenant.code}\` first`,
      );
    }

    if (version > versions.minDecryptionVersion) await deps.keys.setMinDecryptionVersion(tenant, row.keyRef, version);
    await recordAuditEvent(client, {
      actor,
      action: 'tenant.key_min_version_raised',
      tenant,
      details: { keyRef: row.keyRef, from: versions.minDecryptionVersion, to: version },
    });
    await client.query('COMMIT');

    deps.log.info({ tenant: tenant.code, from: versions.minDecryptionVersion, to: version }, 'minimum decryption version raised');
    return { previous: versions.minDecryptionVersion, current: version };
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

function staleCiphertexts(row: Awaited<ReturnType<typeof readTenantKeyRow>>, version: number): StoredCiphertext[] {
  const stale: StoredCiphertext[] = [];
  if (row.keyVersion < version) stale.push({ location: 'control.tenant.wrapped_dek', keyVersion: row.keyVersion });
  if (row.pendingKeyVersion !== null && row.pendingKeyVersion < version) {
    stale.push({ location: 'control.tenant.pending_wrapped_dek', keyVersion: row.pendingKeyVersion });
  }
  return stale;
}
