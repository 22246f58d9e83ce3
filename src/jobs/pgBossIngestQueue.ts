import type { PgBoss } from 'pg-boss';
import type { FinalizeJob, IngestQueue } from '../ingest/ingestJobs.ts';
import { QueueNames } from './queues.ts';

/** The ingest stage's follow-up work, sent as pg-boss jobs. */
export class PgBossIngestQueue implements IngestQueue {
  constructor(private readonly boss: PgBoss) {}

  /**
   * Queue a scan's finalisation. The queue keeps one waiting job per scan: when pg-boss
   * returns no id here, a job for this scan is already waiting, which is what was asked.
   */
  async finalize(job: FinalizeJob): Promise<void> {
    await this.boss.send(QueueNames.finalize, job, { singletonKey: `${job.tenantId}:${job.scanId}` });
  }
}
