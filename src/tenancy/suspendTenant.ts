import type pg from 'pg';
import { recordAuditEvent } from '../control/audit.ts';
import type { TenantRecord } from '../control/tenants.ts';

/**
 * Suspend a tenant (the API rejects its tokens with 403 TENANT_SUSPENDED) or resume
 * it, and record who did it. Returns false when the tenant was already in that state,
 * in which case nothing is recorded.
 *
 * NOTE: only the API checks the status. Jobs already queued for the tenant still run.
 */
export async function setTenantStatus(
  pool: pg.Pool,
  tenant: TenantRecord,
  status: 'ACTIVE' | 'SUSPENDED',
  audit: { actor: string; reason?: string },
): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rowCount } = await client.query(
      'UPDATE control.tenant SET status = $2, updated_at = now() WHERE id = $1 AND status <> $2',
      [tenant.id, status],
    );
    if (rowCount === 1) {
      await recordAuditEvent(client, {
        actor: audit.actor,
        action: status === 'SUSPENDED' ? 'tenant.suspended' : 'tenant.resumed',
        tenant,
        details: audit.reason ? { reason: audit.reason } : {},
      });
    }
    await client.query('COMMIT');
    return rowCount === 1;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}
