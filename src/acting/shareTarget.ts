import type pg from 'pg';
import type { Principal } from '../control/authenticate.ts';
import { Roles } from '../db/roles.ts';
import { withTenant } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';
import type { TargetConfig } from '../tier2/targetConfig.ts';
import { loadTarget, type TargetDeps } from './targets.ts';

/**
 * Return the share's Tier-2 target with its decrypted credentials, for the agent that
 * asked, and record in the audit log which token read it (never the credentials).
 */
export async function shareTarget(
  pool: pg.Pool,
  deks: TargetDeps['deks'] | undefined,
  principal: Principal,
  share: string,
): Promise<TargetConfig> {
  if (!deks) {
    throw new StrataError('KEY_SERVICE_UNAVAILABLE', 'this API process has no access to tenant keys, so it cannot open target credentials', 503);
  }

  const target = await loadTarget({ pool, deks }, principal.tenant, share, Roles.actor);
  if (!target) {
    throw new StrataError('NO_TARGET', `no target configured for share ${JSON.stringify(share)}; set one with \`strata target set\``, 404);
  }

  await withTenant(pool, principal.tenant, Roles.actor, (client) =>
    client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'target.read', $2)", [
      principal.tokenName,
      { tokenId: principal.tokenId, tokenName: principal.tokenName, share, kind: target.kind },
    ]),
  );
  return target;
}
