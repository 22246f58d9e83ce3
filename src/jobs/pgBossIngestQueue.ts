import type { PgBoss } from 'pg-boss';
import type { FinalizeJob, IngestQueue, NormalizeJob } from '../ingest/ingestJobs.ts';
import { QueueNames } from './queues.ts';

/** Raised when pg-boss returns no job id: the job was not queued and the caller must not assume it was. */
export class JobNotQueuedError extends Error {
  override name = 'JobNotQueuedError';
}

/** The ingest stage's follow-up work, sent as pg-boss jobs. */
export class PgBossIngestQueue implements IngestQueue {
  constructor(private readonly boss: PgBoss) {}

  /**
   * Queue a chunk's normalisation. The queue keeps one waiting job per chunk: when pg-boss
   * returns no id here, a job for this chunk is already waiting, which is what was asked.
   */
  async normalize(job: NormalizeJob): Promise<void> {
    await this.boss.send(QueueNames.normalize, job, { singletonKey: `${job.tenantId}:${job.scanId}:${job.seq}` });
  }

  async finalize(job: FinalizeJob, options: { delaySeconds?: number } = {}): Promise<void> {
    await this.send(QueueNames.finalize, job, options.delaySeconds ? { startAfter: options.delaySeconds } : {});
  }

  private async send(queue: string, data: object, options: { startAfter?: number }): Promise<void> {
    const id = await this.boss.send(queue, data, options);
    if (id === null) throw new JobNotQueuedError(`pg-boss did not queue a ${queue} job for ${JSON.stringify(data)}`);
  }
}
