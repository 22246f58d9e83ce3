import type { Queue } from 'pg-boss';

/**
 * The schema pg-boss keeps its tables in. The runtime login owns it, because pg-boss
 * creates a partition per queue as it runs (see src/tenancy/loginRole.ts).
 */
export const JOBS_SCHEMA = 'pgboss';

/** Queue names; every queue is created at start-up, before anything is sent to it. */
export const QueueNames = {
  normalize: 'ingest.normalize',
  finalize: 'ingest.finalize',
} as const;

/**
 * Retry settings per queue. Handlers are idempotent, so a retry after a crash or a
 * transient database error is always safe. `heartbeatSeconds` lets a job whose worker
 * died come back in about a minute instead of after `expireInSeconds`.
 */
export const QUEUE_OPTIONS: Record<string, Omit<Queue, 'name'>> = {
  // `short`: at most one queued job per singleton key (one per chunk), so re-queueing
  // a chunk that already waits in the queue adds nothing.
  [QueueNames.normalize]: {
    policy: 'short',
    retryLimit: 10,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: 3600,
    heartbeatSeconds: 60,
  },
  [QueueNames.finalize]: {
    retryLimit: 20,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: 900,
    heartbeatSeconds: 60,
  },
};
