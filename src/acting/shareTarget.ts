import type pg from 'pg';
import type { TenantRef } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';

/**
 * Return the share's Tier-2 target with its decrypted credentials, for the agent.
 *
 * TODO: call `loadTarget` from src/acting/targets.ts once targets are stored (tenant
 * migration T0009); until then no share has a target and every lookup is a 404.
 */
export async function shareTarget(_pool: pg.Pool, tenant: TenantRef, share: string): Promise<unknown> {
  throw new StrataError('NO_TARGET', `no target configured for share ${JSON.stringify(share)} of tenant ${tenant.code}`, 404);
}
