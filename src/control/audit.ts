import os from 'node:os';
import type pg from 'pg';

/** The kind of operator action stored in `control.audit_event`. */
export type AuditAction =
  | 'tenant.suspended'
  | 'tenant.resumed'
  | 'tenant.deleted'
  | 'tenant.key_destroyed'
  | 'tenant.key_destroy_failed'
  | 'tenant.key_rotated'
  | 'tenant.dek_rewrapped'
  | 'tenant.dek_rotated'
  | 'tenant.key_min_version_raised'
  | 'tenant.exported'
  | 'tenant.imported'
  | 'token.created'
  | 'token.revoked';

export interface AuditEvent {
  actor: string;
  action: AuditAction;
  tenant: { id: string; code: string } | null;
  /** Facts about the event; never a token, key or other secret. */
  details?: Record<string, unknown>;
}

/** Append one event to the control audit trail, in the caller's transaction when it has one. */
export async function recordAuditEvent(db: pg.ClientBase | pg.Pool, event: AuditEvent): Promise<void> {
  await db.query(
    `INSERT INTO control.audit_event (actor, action, tenant_id, tenant_code, details)
     VALUES ($1, $2, $3, $4, $5)`,
    [event.actor, event.action, event.tenant?.id ?? null, event.tenant?.code ?? null, event.details ?? {}],
  );
}

/** Name the person behind a CLI command as `cli:<os user>@<host>`, for audit records. */
export function cliActor(): string {
  let user = process.env.USER;
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      // No passwd entry for this uid (a container, say): the uid still identifies the caller.
      user = `uid${process.getuid?.() ?? '?'}`;
    }
  }
  return `cli:${user}@${os.hostname()}`;
}
