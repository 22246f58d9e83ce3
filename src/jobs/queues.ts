import type { Queue } from 'pg-boss';

/** Queue names; every queue is created at start-up, before anything is sent to it. */
export const QueueNames = {
  finalize: 'ingest.finalize',
} as const;

/**
 * Retry settings per queue. Handlers are idempotent, so a retry after a crash or a
 * transient database error is always safe. `heartbeatSeconds` lets a job whose worker
 * died come back in about a minute instead of after `expireInSeconds`.
 */
export const QUEUE_OPTIONS: Record<string, Omit<Queue, 'name'>> = {
  // `short`: at most one waiting job per singleton key (one per scan), so asking
  // again for a scan whose job already waits adds nothing.
  [QueueNames.finalize]: {
    policy: 'short',
    retryLimit: 20,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: 3600,
    heartbeatSeconds: 60,
  },
};
