import { PgBoss } from 'pg-boss';
import type { Logger } from '../log.ts';
import { JOBS_SCHEMA, QUEUE_OPTIONS } from './queues.ts';

/** A pg-boss queue exists with settings that Strata cannot use and pg-boss cannot change. */
export class QueueSetupError extends Error {
  override name = 'QueueSetupError';
}

/**
 * Start pg-boss in its own schema and create every queue before anything is sent. pg-boss
 * installs or upgrades its schema on start. `createQueue` leaves an existing queue as it
 * is, so a queue made by an older release keeps its old policy. This function checks the
 * policy, because the finalisation queue relies on `short` to keep one waiting job per scan.
 */
export async function startBoss(connectionString: string, log: Logger, options: { max?: number } = {}): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString, schema: JOBS_SCHEMA, max: options.max ?? 10, application_name: 'strata-jobs' });
  boss.on('error', (err) => log.error({ err }, 'pg-boss error'));

  await boss.start();
  try {
    for (const [name, queueOptions] of Object.entries(QUEUE_OPTIONS)) {
      await boss.createQueue(name, queueOptions);
      await checkQueuePolicy(boss, name, queueOptions.policy ?? 'standard');
    }
  } catch (error) {
    await boss.stop({ graceful: false, close: true });
    throw error;
  }
  return boss;
}

async function checkQueuePolicy(boss: PgBoss, name: string, expected: string): Promise<void> {
  const queue = await boss.getQueue(name);
  if (!queue) throw new QueueSetupError(`pg-boss queue ${name} is missing right after createQueue`);

  const policy = queue.policy ?? 'standard';
  if (policy !== expected) {
    throw new QueueSetupError(
      `pg-boss queue ${name} has policy ${policy}, but Strata needs ${expected}, and pg-boss cannot change a queue's policy. ` +
        `Stop every strata api and worker process, delete the queue with pg-boss's deleteQueue (its jobs are deleted with it) ` +
        `and start again`,
    );
  }
}
