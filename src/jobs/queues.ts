import type { Queue } from 'pg-boss';

/**
 * The schema pg-boss keeps its tables in. The runtime login owns it, because pg-boss
 * creates a partition per queue as it runs (see src/tenancy/loginRole.ts).
 */
export const JOBS_SCHEMA = 'pgboss';

/** Queue names; every queue is created at start-up, before anything is sent to it. */
export const QueueNames = {
  finalize: 'scan.finalize',
  inventory: 'tier2.inventory',
  reconcile: 'sanitize.reconcile',
  remediation: 'remediation.execute',
  rotateDek: 'keys.rotate_dek',
} as const;

/**
 * The finalisation queue of releases before scan partitions, made with the `standard`
 * policy, which pg-boss cannot change. Workers still drain it when it exists, so jobs
 * queued before an upgrade are not stranded.
 */
export const LEGACY_FINALIZE_QUEUE = 'ingest.finalize';

/**
 * Retry settings per queue. Handlers are idempotent, so a retry after a crash or a
 * transient database error is always safe. `heartbeatSeconds` lets a job whose worker
 * died come back in about a minute instead of after `expireInSeconds`.
 */
export const QUEUE_OPTIONS: Record<string, Omit<Queue, 'name'>> = {
  // `short`: at most one waiting job per singleton key (one per scan), so asking
  // again for a scan whose job already waits adds nothing. `notify` wakes a listening
  // worker when a scan completes: with polling alone a scan became OK up to a polling
  // interval (2 s by default) after its last chunk was stored.
  [QueueNames.finalize]: {
    policy: 'short',
    notify: true,
    retryLimit: 20,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: 3600,
    heartbeatSeconds: 60,
  },
  // A data-key rotation needs the key service. While Vault is sealed or unreachable
  // the job fails with KeyServiceUnavailableError and waits: the delay doubles up to
  // 10 minutes, and 1,000 retries cover about a week of outage before pg-boss gives up.
  [QueueNames.rotateDek]: {
    policy: 'short',
    retryLimit: 1000,
    retryDelay: 2,
    retryBackoff: true,
    retryDelayMax: 600,
    expireInSeconds: 6 * 3600,
    heartbeatSeconds: 60,
  },
  // A server-side listing resumes from its stored continuation token, so a retry
  // repeats at most one page.
  [QueueNames.inventory]: {
    retryLimit: 20,
    retryDelay: 10,
    retryBackoff: true,
    retryDelayMax: 600,
    expireInSeconds: 6 * 3600,
    heartbeatSeconds: 60,
  },
  // A reconciliation commits all of its findings at once, so a retry starts over.
  [QueueNames.reconcile]: {
    retryLimit: 5,
    retryDelay: 10,
    retryBackoff: true,
    expireInSeconds: 3600,
    heartbeatSeconds: 60,
  },
  // The executor's ledger skips recorded actions, so a retry continues where the last attempt stopped.
  [QueueNames.remediation]: {
    retryLimit: 20,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: 6 * 3600,
    heartbeatSeconds: 60,
  },
};
