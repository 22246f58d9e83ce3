import { expect } from 'chai';
import { PgBoss } from 'pg-boss';
import { startBoss } from '../../src/jobs/boss.ts';
import { JobNotQueuedError, PgBossIngestQueue } from '../../src/jobs/pgBossIngestQueue.ts';
import { QUEUE_OPTIONS, QueueNames } from '../../src/jobs/queues.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase } from '../support/database.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('ingest queue', () => {
  let stack: Stack;
  /** pg-boss instances that a test started on a schema of its own, stopped after each test. */
  let extraBosses: PgBoss[] = [];

  before(async () => {
    stack = await startStack('ingest_queue', { api: false, workers: false, boss: true });
  });
  afterEach(async () => {
    for (const boss of extraBosses) await boss.stop({ graceful: false, close: true });
    extraBosses = [];
  });
  after(async () => stack?.close());

  async function waiting(queue: string): Promise<number> {
    const { rows } = await stack.services.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'created'", [queue]);
    return rows[0].n;
  }

  /** Start pg-boss on its own schema of the stack's database, without Strata's queues. */
  async function startBareBoss(schema: string): Promise<PgBoss> {
    const boss = new PgBoss({ connectionString: stack.db.url, schema, max: 2 });
    boss.on('error', (error) => stack.services.log.error({ err: error, schema }, 'pg-boss error in a test instance'));
    await boss.start();
    extraBosses.push(boss);
    return boss;
  }

  it('keeps one waiting finalisation job per scan', async () => {
    // No workers run in this stack, so every queued job stays waiting.
    const job = { tenantId: '00000000-0000-4000-8000-000000000001', scanId: 7 };
    for (let i = 0; i < 5; i++) await stack.queue!.finalize(job);
    await stack.queue!.finalize({ ...job, scanId: 8 });

    expect(await waiting(QueueNames.finalize)).to.equal(2);
  });

  // Hard input J1: a send to a queue that was never created must fail, not vanish.
  it('rejects sends to a queue never created', async () => {
    const queue = new PgBossIngestQueue(await startBareBoss('pgboss_bare'));
    const job = { tenantId: '00000000-0000-4000-8000-000000000001', scanId: 7 };

    let finalizeError: unknown;
    await queue.finalize(job).catch((error: unknown) => (finalizeError = error));

    expect((finalizeError as Error | undefined)?.message).to.match(/scan\.finalize does not exist/);
  });

  // Hard input J1: a send that returns no job id is not a queued job. On an `exclusive`
  // queue (as an older release or an operator might have made it) pg-boss returns no id
  // while a job with the key is running. That job may have looked at the scan before
  // it was COMPLETING, so nothing is sure to finalise it.
  it('raises when no job id comes back and none waits', async () => {
    const boss = await startBareBoss('pgboss_exclusive');
    await boss.createQueue(QueueNames.finalize, { policy: 'exclusive' });
    const job = { tenantId: '00000000-0000-4000-8000-000000000001', scanId: 7 };
    const key = `${job.tenantId}:${job.scanId}`;
    await boss.send(QueueNames.finalize, job, { singletonKey: key });
    const running = await boss.fetch(QueueNames.finalize);
    expect(running).to.have.length(1);

    let failure: unknown;
    await new PgBossIngestQueue(boss).finalize(job).catch((error: unknown) => (failure = error));

    expect(failure).to.be.instanceOf(JobNotQueuedError);
    expect((failure as Error).message).to.contain(key);
    expect(await boss.findJobs(QueueNames.finalize, { key, queued: true })).to.have.length(0);
  });

  it('creates every queue with its policy at start-up', async () => {
    for (const [name, options] of Object.entries(QUEUE_OPTIONS)) {
      const queue = await stack.boss!.getQueue(name);
      expect(queue, name).to.not.equal(null);
      expect(queue!.policy, name).to.equal(options.policy ?? 'standard');
    }
  });

  it('refuses to start on a queue with another policy', async () => {
    const db = await createTestDatabase('boss_policy');
    try {
      // A queue made by hand (or by another release) under Strata's name with another policy.
      const older = new PgBoss({ connectionString: db.url, schema: 'pgboss', max: 2 });
      await older.start();
      await older.createQueue(QueueNames.finalize, { policy: 'standard' });
      await older.stop({ graceful: false, close: true });

      let failure: unknown;
      await startBoss(db.url, createLogger('silent'), { max: 2 }).then(
        (boss) => boss.stop({ graceful: false, close: true }),
        (error: unknown) => (failure = error),
      );

      expect((failure as Error | undefined)?.message).to.contain(`queue ${QueueNames.finalize} has policy standard, but Strata needs short`);
    } finally {
      await db.drop();
    }
  });

  it('turns on notify for an old queue', async () => {
    const db = await createTestDatabase('boss_notify');
    try {
      // The queue as releases before the wake-up made it: same policy, no notification.
      const older = new PgBoss({ connectionString: db.url, schema: 'pgboss', max: 2 });
      await older.start();
      await older.createQueue(QueueNames.finalize, { ...QUEUE_OPTIONS[QueueNames.finalize], notify: false });
      await older.stop({ graceful: false, close: true });

      const boss = await startBoss(db.url, createLogger('silent'), { max: 2 });
      try {
        expect((await boss.getQueue(QueueNames.finalize))?.notify).to.equal(true);
      } finally {
        await boss.stop({ graceful: false, close: true });
      }
    } finally {
      await db.drop();
    }
  });
});
