import { PgBoss } from 'pg-boss';
import type { Logger } from '../log.ts';
import { JOBS_SCHEMA, QUEUE_OPTIONS } from './queues.ts';

/**
 * Start pg-boss in its own schema and create every queue. pg-boss installs or
 * upgrades its schema on start; `createQueue` leaves an existing queue as it is.
 */
export async function startBoss(connectionString: string, log: Logger, options: { max?: number } = {}): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString, schema: JOBS_SCHEMA, max: options.max ?? 10, application_name: 'strata-jobs' });
  boss.on('error', (err) => log.error({ err }, 'pg-boss error'));

  await boss.start();
  for (const [name, queueOptions] of Object.entries(QUEUE_OPTIONS)) {
    await boss.createQueue(name, queueOptions);
  }
  return boss;
}
