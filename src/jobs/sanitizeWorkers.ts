import type { PgBoss } from 'pg-boss';
import type pg from 'pg';
import type { SanitizeSettings } from '../config.ts';
import type { Logger } from '../log.ts';
import { runJob } from './runJob.ts';
import { executeProposal, purgeQuarantine, type ExecutorOptions, type RemediationJob } from '../sanitize/executeRemediation.ts';
import { listInventory, type InventoryJob } from '../sanitize/listInventory.ts';
import { getInventory } from '../sanitize/inventoryRuns.ts';
import { reconcileRun, type ReconcileJob } from '../sanitize/reconcile.ts';
import type { Tier2StoreResolver } from '../sanitize/storeResolver.ts';
import { Roles } from '../db/roles.ts';
import { QueueNames } from './queues.ts';
import { SanitizeQueue } from './sanitizeQueue.ts';

export interface SanitizeWorkerDeps {
  boss: PgBoss;
  pool: pg.Pool;
  log: Logger;
  settings: SanitizeSettings;
  /** Opens a share's Tier-2 store; without it, inventory and remediation jobs fail and are retried. */
  tier2Stores?: Tier2StoreResolver;
  /** Seconds between polls of an idle queue. */
  pollingIntervalSeconds?: number;
  /** Test hook run after each recorded remediation action. */
  afterRemediationAction?: ExecutorOptions['afterAction'];
}

/**
 * Register the handlers of `tier2.inventory`, `sanitize.reconcile` and
 * `remediation.execute`, one job at a time each. A thrown error is logged with the
 * job's ids and hands the job back to pg-boss for a retry.
 */
export async function registerSanitizeWorkers(deps: SanitizeWorkerDeps): Promise<void> {
  const polling = { batchSize: 1, pollingIntervalSeconds: deps.pollingIntervalSeconds ?? 2 };
  const queue = new SanitizeQueue(deps.boss);
  const stores: Tier2StoreResolver = (tenant, share) => {
    if (!deps.tier2Stores) throw new Error('this worker has no Tier-2 store resolver configured');
    return deps.tier2Stores(tenant, share);
  };

  await deps.boss.work<InventoryJob>(QueueNames.inventory, polling, async ([job]) =>
    runJob(deps, job!, async (tenant, log) => {
      const run = await getInventory(deps.pool, tenant, Roles.sanitizer, job!.data.inventoryGuid);
      const store = await stores(tenant, run.share);
      const view = await listInventory(deps.pool, tenant, job!.data.inventoryGuid, store, { pageSize: deps.settings.inventoryPageSize, log });
      return `${view.status}: ${view.objectCount} objects`;
    }),
  );

  await deps.boss.work<ReconcileJob>(QueueNames.reconcile, polling, async ([job]) =>
    runJob(deps, job!, async (tenant, log) => {
      const summary = await reconcileRun(deps.pool, tenant, job!.data.runId, log);
      return `run ${summary.runId} ${summary.status}`;
    }),
  );

  await deps.boss.work<RemediationJob>(QueueNames.remediation, polling, async ([job]) =>
    runJob(deps, job!, async (tenant, log) => {
      const options = { stores, log, afterAction: deps.afterRemediationAction };
      const result =
        job!.data.phase === 'purge'
          ? await purgeQuarantine(deps.pool, tenant, job!.data.proposalId, options)
          : await executeProposal(deps.pool, tenant, job!.data.proposalId, options);

      // Orphans waiting out their grace period get a purge job for when it ends.
      if (result.nextPurgeAt !== null) {
        const wait = Math.max(0, result.nextPurgeAt - Math.floor(Date.now() / 1000));
        await queue.remediation({ tenantId: tenant.id, proposalId: job!.data.proposalId, phase: 'purge' }, wait);
      }
      return `${job!.data.phase}: ${result.recorded} actions recorded`;
    }),
  );
}
