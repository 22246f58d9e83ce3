import type { Job } from 'pg-boss';
import type pg from 'pg';
import { findTenantById, type TenantRecord } from '../control/tenants.ts';
import { StrataError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * Run one job for its tenant, with a logger that carries the job's and tenant's ids.
 * A job whose tenant is gone ends quietly. A transient error is logged and thrown, so
 * pg-boss retries the job with backoff. A client or configuration error (4xx), which
 * no retry fixes, is logged and ends the job.
 */
export async function runJob<T extends { tenantId: string }>(
  deps: { pool: pg.Pool; log: Logger },
  job: Job<T>,
  handle: (tenant: TenantRecord, log: Logger) => Promise<string>,
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
    log.info({ outcome }, 'job done');
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

/** Pick the object ids a job's payload names, for its log lines. */
function ids(data: object): Record<string, unknown> {
  const { scanId, proposalId, runId } = data as { scanId?: unknown; proposalId?: unknown; runId?: unknown };
  return { scanId, proposalId, runId };
}
