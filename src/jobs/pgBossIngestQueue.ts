import type { PgBoss } from 'pg-boss';
import type { FinalizeJob, IngestQueue } from '../ingest/ingestJobs.ts';
import { QueueNames } from './queues.ts';

/** Raised when pg-boss returns no job id: the job was not queued and the caller must not assume it was. */
export class JobNotQueuedError extends Error {
  override name = 'JobNotQueuedError';
}

/** Maximum sends of one finalisation job that return no id while no job with its key waits. */
const SEND_ATTEMPTS = 3;

/** The ingest stage's follow-up work, sent as pg-boss jobs. */
export class PgBossIngestQueue implements IngestQueue {
  constructor(private readonly boss: PgBoss) {}

  /**
   * Queue a scan's finalisation, keeping one waiting job per scan. pg-boss returns no
   * id when it inserted nothing. On the `short` policy that happens when a job for this
   * scan is waiting, and that job starts after the caller's commit, so it reads the
   * COMPLETING scan. A missing id is therefore taken as queued only when such a waiting
   * job is found. Otherwise the job is sent again: the waiting job may have started in
   * between. After SEND_ATTEMPTS sends this raises JobNotQueuedError.
   */
  async finalize(job: FinalizeJob): Promise<void> {
    const singletonKey = `${job.tenantId}:${job.scanId}`;

    for (let attempt = 1; attempt <= SEND_ATTEMPTS; attempt++) {
      const id = await this.boss.send(QueueNames.finalize, job, { singletonKey });
      if (id !== null) return;

      const waiting = await this.boss.findJobs(QueueNames.finalize, { key: singletonKey, queued: true, limit: 1 });
      if (waiting.length > 0) return;
    }
    throw new JobNotQueuedError(
      `pg-boss returned no job id for ${QueueNames.finalize} job ${singletonKey} ${SEND_ATTEMPTS} times, and no job with that key is waiting`,
    );
  }
}
