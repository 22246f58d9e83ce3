import type { PgBoss } from 'pg-boss';
import type { FinalizeJob, IngestQueue, NormalizeJob } from '../ingest/ingestJobs.ts';
import { QueueNames } from './queues.ts';

/** Raised when pg-boss returns no job id: the job was not queued and the caller must not assume it was. */
export class JobNotQueuedError extends Error {
  override name = 'JobNotQueuedError';
}

/** Maximum sends of one normalise job that return no id while no job with its key waits. */
const NORMALIZE_SEND_ATTEMPTS = 3;

/** The ingest stage's follow-up work, sent as pg-boss jobs. */
export class PgBossIngestQueue implements IngestQueue {
  constructor(private readonly boss: PgBoss) {}

  /**
   * Queue a chunk's normalisation, keeping one waiting job per chunk. pg-boss returns no
   * id when it inserted nothing. On the `short` policy that happens when a job for this
   * chunk is waiting, and that job starts after the caller's commit, so it reads the
   * chunk. A missing id is therefore taken as queued only when such a waiting job is
   * found. Otherwise the job is sent again: the waiting job may have started in between,
   * or the queue may have another policy whose running job read the chunks before the
   * commit. After NORMALIZE_SEND_ATTEMPTS sends this raises JobNotQueuedError.
   */
  async normalize(job: NormalizeJob): Promise<void> {
    const singletonKey = `${job.tenantId}:${job.scanId}:${job.seq}`;

    for (let attempt = 1; attempt <= NORMALIZE_SEND_ATTEMPTS; attempt++) {
      const id = await this.boss.send(QueueNames.normalize, job, { singletonKey });
      if (id !== null) return;

      const waiting = await this.boss.findJobs(QueueNames.normalize, { key: singletonKey, queued: true, limit: 1 });
      if (waiting.length > 0) return;
    }
    throw new JobNotQueuedError(
      `pg-boss returned no job id for ${QueueNames.normalize} job ${singletonKey} ${NORMALIZE_SEND_ATTEMPTS} times, and no job with that key is waiting`,
    );
  }

  async finalize(job: FinalizeJob, options: { delaySeconds?: number } = {}): Promise<void> {
    await this.send(QueueNames.finalize, job, options.delaySeconds ? { startAfter: options.delaySeconds } : {});
  }

  private async send(queue: string, data: object, options: { startAfter?: number }): Promise<void> {
    const id = await this.boss.send(queue, data, options);
    if (id === null) throw new JobNotQueuedError(`pg-boss did not queue a ${queue} job for ${JSON.stringify(data)}`);
  }
}
