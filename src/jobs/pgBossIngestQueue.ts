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

  async normalize(job: NormalizeJob): Promise<void> {
    await this.send(QueueNames.normalize, job, {});
  }

  async finalize(job: FinalizeJob, options: { delaySeconds?: number } = {}): Promise<void> {
    await this.send(QueueNames.finalize, job, options.delaySeconds ? { startAfter: options.delaySeconds } : {});
  }

  private async send(queue: string, data: object, options: { startAfter?: number }): Promise<void> {
    const id = await this.boss.send(queue, data, options);
    if (id === null) throw new JobNotQueuedError(`pg-boss did not queue a ${queue} job for ${JSON.stringify(data)}`);
  }
}
