import type { PgBoss } from 'pg-boss';
import type { InventoryJob } from '../sanitize/listInventory.ts';
import type { RemediationJob } from '../sanitize/executeRemediation.ts';
import type { ReconcileJob } from '../sanitize/reconcile.ts';
import { JobNotQueuedError } from './pgBossIngestQueue.ts';
import { QueueNames } from './queues.ts';

/** The sanitizer's jobs, sent to pg-boss. A send that returns no job id raises JobNotQueuedError. */
export class SanitizeQueue {
  constructor(private readonly boss: PgBoss) {}

  async inventory(job: InventoryJob): Promise<string> {
    return this.send(QueueNames.inventory, job, {});
  }

  async reconcile(job: ReconcileJob): Promise<string> {
    return this.send(QueueNames.reconcile, job, {});
  }

  /** Queue a proposal's execution, or its purge `startAfterSeconds` from now. */
  async remediation(job: RemediationJob, startAfterSeconds = 0): Promise<string> {
    return this.send(QueueNames.remediation, job, startAfterSeconds > 0 ? { startAfter: startAfterSeconds } : {});
  }

  private async send(queue: string, data: object, options: { startAfter?: number }): Promise<string> {
    const id = await this.boss.send(queue, data, options);
    if (id === null) throw new JobNotQueuedError(`pg-boss returned no job id for a ${queue} job`);
    return id;
  }
}
