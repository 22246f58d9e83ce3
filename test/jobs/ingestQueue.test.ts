import { expect } from 'chai';
import { QueueNames } from '../../src/jobs/queues.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('ingest queue', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('ingest_queue', { api: false, workers: false, boss: true });
  });
  after(async () => stack?.close());

  async function waiting(queue: string): Promise<number> {
    const { rows } = await stack.services.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'created'", [queue]);
    return rows[0].n;
  }

  it('keeps one waiting finalisation job per scan', async () => {
    // No workers run in this stack, so every queued job stays waiting.
    const job = { tenantId: '00000000-0000-4000-8000-000000000001', scanId: 7 };
    for (let i = 0; i < 5; i++) await stack.queue!.finalize(job);
    await stack.queue!.finalize({ ...job, scanId: 8 });

    expect(await waiting(QueueNames.finalize)).to.equal(2);
  });
});
