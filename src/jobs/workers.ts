import type { PgBoss, Job } from 'pg-boss';
import type pg from 'pg';
import { StrataError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { findTenantById } from '../control/tenants.ts';
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
  const polling = { batchSize: 1, pollingIntervalSeconds: deps.pollingIntervalSeconds ?? 2 };

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

async function runJob<T extends { tenantId: string }>(
  deps: WorkerDeps,
  job: Job<T>,
  handle: (tenant: Awaited<ReturnType<typeof findTenantById>> & object, log: Logger) => Promise<string>,
): Promise<void> {
  const log = deps.log.child({ job: job.name, jobId: job.id, tenantId: job.data.tenantId, ...ids(job.data) });

  const tenant = await findTenantById(deps.pool, job.data.tenantId);
  if (!tenant) {
    // The tenant was deleted after the job was queued: nothing is left to do.
    log.warn('job for an unknown tenant dropped');
    return;
  }

  try {
    const outcome = await handle(tenant, log.child({ tenant: tenant.code }));
    log.debug({ outcome }, 'job done');
  } catch (err) {
    if (cannotSucceed(err)) {
      // A retry cannot help (the tenant's key is kept by another key provider, say), so
      // the job ends here and the error stays in the log for the operator.
      log.error({ err }, 'job failed and is not retried: its request is invalid for this process');
      return;
    }
    log.error({ err, retry: job.retryCount }, 'job failed; pg-boss will retry it');
    throw err;
  }
}

/** Tell a client or configuration error (4xx), which no retry fixes, from a transient one. */
function cannotSucceed(err: unknown): boolean {
  return err instanceof StrataError && err.status >= 400 && err.status < 500 && err.status !== 409 && err.status !== 429;
}

function ids(data: object): Record<string, unknown> {
  const { scanId } = data as { scanId?: number };
  return { scanId };
}
