import type { PgBoss } from 'pg-boss';
import type pg from 'pg';
import type { Logger } from '../log.ts';
import { runJob } from './runJob.ts';
import type { FinalizeJob } from '../ingest/ingestJobs.ts';
import { finalizeScan } from '../ingest/finalizeScan.ts';
import type { KeyProvider } from '../keys/keyProvider.ts';
import { rotateTenantDek } from '../keys/rotation/rotateTenantDek.ts';
import type { TenantDeks } from '../keys/tenantDeks.ts';
import { LEGACY_FINALIZE_QUEUE, QueueNames } from './queues.ts';
import { registerSanitizeWorkers, type SanitizeWorkerDeps } from './sanitizeWorkers.ts';

/** Payload of a `keys.rotate_dek` job. */
export interface RotateDekJob {
  tenantId: string;
}

export interface WorkerDeps {
  boss: PgBoss;
  pool: pg.Pool;
  log: Logger;
  /** Scans finalised at once by this process. */
  finalizeConcurrency: number;
  /** OK scans kept per share (STRATA_SCAN_RETENTION). */
  keepScans: number;
  /** Memory of one finalisation in MiB (STRATA_FINALIZE_MEMORY_MB). */
  finalizeMemoryMb: number;
  /** Seconds between polls of an idle queue. */
  pollingIntervalSeconds?: number;
  /** The sanitizer's settings and Tier-2 access; its queues are worked only when given. */
  sanitize?: Pick<SanitizeWorkerDeps, 'settings' | 'tier2Stores' | 'afterRemediationAction'>;
  /** Key provider and data keys; without them the key jobs are not handled by this process. */
  keys?: { provider: () => KeyProvider; deks: TenantDeks };
}

/**
 * Register the ingest handlers. Each job is handled on its own (batch size 1), so one
 * failing scan is retried alone. A thrown error is logged with the job's ids and
 * hands the job back to pg-boss for a retry with backoff.
 */
export async function registerWorkers(deps: WorkerDeps): Promise<void> {
  // Notification only adds a wake-up: the polling stays as frequent as without it, for
  // jobs whose retry delay has passed, which no notification announces.
  const interval = deps.pollingIntervalSeconds ?? 2;
  const polling = { batchSize: 1, pollingIntervalSeconds: interval, notifyPollingIntervalSeconds: interval };

  const queues = [QueueNames.finalize, ...((await deps.boss.getQueue(LEGACY_FINALIZE_QUEUE)) ? [LEGACY_FINALIZE_QUEUE] : [])];
  for (const queue of queues) {
    await deps.boss.work<FinalizeJob>(queue, { ...polling, localConcurrency: deps.finalizeConcurrency }, async ([job]) =>
      runJob(deps, job!, async (tenant, log) =>
        finalizeScan(deps.pool, tenant, job!.data, log, { keepScans: deps.keepScans, memoryMb: deps.finalizeMemoryMb }),
      ),
    );
  }

  const keys = deps.keys;
  if (keys) {
    await deps.boss.work<RotateDekJob>(QueueNames.rotateDek, polling, async ([job]) =>
      runJob(deps, job!, async (tenant, log) => {
        const result = await rotateTenantDek({ pool: deps.pool, keys: keys.provider(), deks: keys.deks, log }, tenant, `job:${job!.id}`);
        return `data key now at key version ${result.keyVersion}`;
      }),
    );
  }

  if (deps.sanitize) {
    await registerSanitizeWorkers({ boss: deps.boss, pool: deps.pool, log: deps.log, pollingIntervalSeconds: deps.pollingIntervalSeconds, ...deps.sanitize });
  }
}
