import type { TenantRef } from '../../db/tenantContext.ts';
import { createReconcileRun, reconcileRun } from '../../sanitize/reconcile.ts';
import type { Services } from '../../services.ts';
import { formatRunSummary } from './sanitizeFormat.ts';

/**
 * The demo's last step: reconcile the demo share in this process and return the
 * sanitizer's report, with files used within `staleAfterSeconds` counted as STALE.
 */
export async function demoSanitizerReport(services: Services, tenant: TenantRef, share: string, staleAfterSeconds: number): Promise<string> {
  const runId = await createReconcileRun(services.pool, tenant, { share, staleAfterSeconds, requestedBy: 'demo' });
  const summary = await reconcileRun(services.pool, tenant, runId, services.log);
  return formatRunSummary(summary);
}
