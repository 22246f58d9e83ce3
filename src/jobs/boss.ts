import { PgBoss } from 'pg-boss';
import type { Logger } from '../log.ts';
import { JOBS_SCHEMA, QUEUE_OPTIONS } from './queues.ts';

/** A pg-boss queue exists with settings that Strata cannot use and pg-boss cannot change. */
export class QueueSetupError extends Error {
  override name = 'QueueSetupError';
}

export interface BossOptions {
  /** Connections in pg-boss's own pool (default 10). */
  max?: number;
  /**
   * Hold one more connection that LISTENs for new jobs, so this process's workers start
   * a job on a notifying queue as soon as it is sent instead of at their next poll. Only
   * processes that run workers need it. Through a pooler in transaction mode the
   * listener gets nothing, and the workers poll as before.
   */
  listen?: boolean;
}

/**
 * Start pg-boss in its own schema and create every queue before anything is sent. pg-boss
 * installs or upgrades its schema on start. `createQueue` leaves an existing queue as it
 * is, so a queue made by an older release keeps its old settings. This function checks the
 * policy, because the finalisation queue relies on `short` to keep one waiting job per
 * scan, and turns on notification for the queues configured with it.
 */
export async function startBoss(connectionString: string, log: Logger, options: BossOptions = {}): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString,
    schema: JOBS_SCHEMA,
    max: options.max ?? 10,
    application_name: 'strata-jobs',
    useListenNotify: options.listen ?? false,
  });
  boss.on('error', (err) => log.error({ err }, 'pg-boss error'));
  boss.on('warning', (warning) => log.warn({ warning: warning.message, data: warning.data }, 'pg-boss warning'));

  await boss.start();
  try {
    for (const [name, queueOptions] of Object.entries(QUEUE_OPTIONS)) {
      await boss.createQueue(name, queueOptions);
      await checkQueuePolicy(boss, name, queueOptions.policy ?? 'standard');
      await turnOnNotify(boss, name, queueOptions.notify ?? false);
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

/** Turn on a queue's job notification when an older release created it without. */
async function turnOnNotify(boss: PgBoss, name: string, requested: boolean): Promise<void> {
  if (!requested) return;
  const queue = await boss.getQueue(name);
  if (queue?.notify !== true) await boss.updateQueue(name, { notify: true });
}
