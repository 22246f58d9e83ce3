/**
 * Optional quicker recovery of a killed worker's job, for short fault runs. With the
 * queue options `strata worker` creates (heartbeat 60 s), checked at pg-boss 12's default
 * supervise interval of 60 s, a job whose worker was killed is retried 60 to 120 s later.
 * Here the ingest queues are created first, with a shorter heartbeat, and this process
 * checks heartbeats every second. Everything else about the queues stays as the workers
 * would create it, and `createQueue` in the workers leaves existing queues alone.
 */
import { PgBoss } from 'pg-boss';
import { QUEUE_OPTIONS } from '../../src/jobs/queues.ts';
import { logEvent } from './eventLog.ts';

/** pg-boss 12 rejects a heartbeat shorter than this. */
export const MIN_HEARTBEAT_SECONDS = 10;

/**
 * Create the ingest queues with `heartbeatSeconds` and start a pg-boss instance that
 * fails jobs with an expired heartbeat every second, so pg-boss retries them. Call it
 * before any worker starts; stop the returned instance at the end of the run.
 */
export async function createQueuesWithShortHeartbeat(connectionString: string, heartbeatSeconds: number): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString,
    schema: 'pgboss',
    max: 2,
    superviseIntervalSeconds: 1,
    monitorIntervalSeconds: 1,
  });
  // Errors while PostgreSQL restarts are expected, and pg-boss tries again on its next
  // pass. The first error is shown and the rest only counted, at every power of ten.
  let errors = 0;
  boss.on('error', (error) => {
    errors++;
    if (Number.isInteger(Math.log10(errors))) logEvent(`heartbeat supervisor: error ${errors}: ${error.message}`);
  });

  await boss.start();
  for (const [name, options] of Object.entries(QUEUE_OPTIONS)) {
    await boss.createQueue(name, { ...options, heartbeatSeconds });
  }
  return boss;
}
