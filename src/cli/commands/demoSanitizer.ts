import { randomUUID } from 'node:crypto';
import { loadTarget } from '../../acting/targets.ts';
import { Roles } from '../../db/roles.ts';
import type { TenantRef } from '../../db/tenantContext.ts';
import { openInventory } from '../../sanitize/inventoryRuns.ts';
import { listInventory } from '../../sanitize/listInventory.ts';
import { createReconcileRun, reconcileRun } from '../../sanitize/reconcile.ts';
import type { Services } from '../../services.ts';
import { openTier2Store } from '../../tier2/openTier2Store.ts';
import { formatRunSummary } from './sanitizeFormat.ts';

/**
 * Run the demo's last step: list the share's Tier-2 target when it has one (the demo's
 * target is a local folder, so this process can list it), reconcile the share, and
 * return the sanitizer's report. Files used within `staleAfterSeconds` count as STALE.
 */
export async function demoSanitizerReport(services: Services, tenant: TenantRef, share: string, staleAfterSeconds: number): Promise<string> {
  const target = await loadTarget(services, tenant, share, Roles.sanitizer);
  if (target) {
    const inventoryGuid = randomUUID();
    await openInventory(services.pool, tenant, Roles.sanitizer, { inventoryGuid, share, source: 'server', openedBy: 'demo' });
    await listInventory(services.pool, tenant, inventoryGuid, openTier2Store(target), { pageSize: services.config.sanitize.inventoryPageSize, log: services.log });
  }

  const runId = await createReconcileRun(services.pool, tenant, { share, staleAfterSeconds, requestedBy: 'demo' });
  const summary = await reconcileRun(services.pool, tenant, runId, services.log);
  return formatRunSummary(summary);
}
