import type pg from 'pg';
import { recordAuditEvent } from '../control/audit.ts';
import type { TenantRecord } from '../control/tenants.ts';
import { StrataError } from '../errors.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import type { KeyProvider } from '../keys/keyProvider.ts';
import type { Logger } from '../log.ts';

export interface DeletionReport {
  schemaName: string;
  /** Tokens that were still usable when the tenant was deleted. */
  tokensRevoked: number;
  keyRef: string;
  /** False when the key provider failed; the tenant's data is gone either way. */
  keyDestroyed: boolean;
  keyError?: string;
}

/** How long the deletion waits for locks held by the tenant's requests and jobs. */
const LOCK_TIMEOUT = '30s';

/**
 * Delete a tenant for good. One transaction revokes its tokens, drops its schema with
 * every row in it, removes its registry row (its token rows go with it) and records
 * the deletion in `control.audit_event`. After the commit, the tenant's key-encryption
 * key is destroyed, which makes its wrapped data key, and anything it encrypted in
 * backups, unreadable. The key goes last so that a failed transaction leaves a tenant
 * whose data can still be read.
 *
 * NOTE: dropping a schema locks every table and partition in it within one
 * transaction. A tenant with thousands of scan partitions may need a larger
 * `max_locks_per_transaction`.
 */
export async function deleteTenant(
  deps: { pool: pg.Pool; keys: KeyProvider; log: Logger },
  tenant: TenantRecord,
  actor: string,
): Promise<DeletionReport> {
  const log = deps.log.child({ tenant: tenant.code, tenantId: tenant.id });
  const client = await deps.pool.connect();
  let keyRef: string;
  let tokensRevoked: number;

  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    const { rows } = await client.query<{ key_ref: string; schema_version: string | null }>(
      'SELECT key_ref, schema_version FROM control.tenant WHERE id = $1 FOR UPDATE',
      [tenant.id],
    );
    if (!rows[0]) throw StrataError.notFound(`tenant ${tenant.code}`);
    keyRef = rows[0].key_ref;
    // Checked before anything is dropped: a process on another key provider would
    // otherwise delete the tenant and report a key destroyed that it never touched.
    deps.keys.assertOwnsKeyRef(keyRef);

    const revoked = await client.query('UPDATE control.api_token SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL', [tenant.id]);
    tokensRevoked = revoked.rowCount ?? 0;
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(tenant.schemaName)} CASCADE`);
    await client.query('DELETE FROM control.tenant WHERE id = $1', [tenant.id]);

    await recordAuditEvent(client, {
      actor,
      action: 'tenant.deleted',
      tenant,
      details: { name: tenant.name, schemaName: tenant.schemaName, schemaVersion: rows[0].schema_version, keyRef, tokensRevoked },
    });
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    if (sqlStateOf(error) === SqlState.lockNotAvailable) {
      throw StrataError.conflict(
        'TENANT_BUSY',
        `tenant ${tenant.code} is in use: its tables stayed locked for ${LOCK_TIMEOUT}; suspend it (\`strata tenant suspend\`), let running jobs finish, and retry`,
      );
    }
    throw error;
  } finally {
    client.release();
  }
  log.info({ schema: tenant.schemaName, tokensRevoked, actor }, 'tenant deleted');

  return { schemaName: tenant.schemaName, tokensRevoked, keyRef, ...(await destroyKey(deps, tenant, keyRef, actor, log)) };
}

async function destroyKey(
  deps: { pool: pg.Pool; keys: KeyProvider },
  tenant: TenantRecord,
  keyRef: string,
  actor: string,
  log: Logger,
): Promise<{ keyDestroyed: boolean; keyError?: string }> {
  try {
    await deps.keys.destroyTenantKey({ id: tenant.id, code: tenant.code }, keyRef);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error({ err: error, keyRef }, 'tenant key could not be destroyed after the tenant was deleted');
    await recordAuditEvent(deps.pool, { actor, action: 'tenant.key_destroy_failed', tenant, details: { keyRef, error: message } });
    return { keyDestroyed: false, keyError: message };
  }

  await recordAuditEvent(deps.pool, { actor, action: 'tenant.key_destroyed', tenant, details: { keyRef } });
  return { keyDestroyed: true };
}
