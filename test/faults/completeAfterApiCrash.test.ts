import { expect } from 'chai';
import pg from 'pg';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { startApiChild, type ApiChild } from './support/apiChild.ts';

/**
 * A real `strata api` process is killed at one exact point: after the transaction that
 * marks a scan COMPLETING has committed, and before its finalisation job is queued. The
 * point is held open by locking pg-boss's job table, so the API's insert of the job
 * waits; then the process gets SIGKILL. The agent's retry of `complete` must still lead
 * to an OK scan.
 */
describe('scan completion when the API dies', () => {
  const APPLICATION = 'faults-complete-api';
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let child: ApiChild;

  before(async () => {
    // The worker runs in this process; only the API is a child process that can be killed.
    stack = await startStack('complete_api_crash', { api: false, workers: true });
    tenant = await createTenant(stack, 'acme');

    child = await startApiChild(stack, APPLICATION);
  });

  after(async () => {
    await child?.stop();
    await stack?.close();
  });

  it('finishes a scan whose finalisation job died with the API', async () => {
    const request = scanRequest();
    const scanGuid = request.scanGuid;
    const token = tenant.agentToken;
    await call(child.api.url!, 'POST', '/v1/scans', { token, json: request });
    const chunk = await putChunk(child.api.url!, token, scanGuid, 0, `${HEADER}"D:\\x","a.txt",10,100,200,300\n"D:\\x","b.txt",20,100,200,300\n`);
    expect(chunk.status).to.equal(200);

    // Every chunk is normalised before `complete`, as with small chunks it usually is.
    // Then no later normalisation queues the finalisation job.
    await waitUntil(async () => (await scanStatus(stack, scanGuid)).normalized === 1, 'the chunk to be normalised');

    const locker = new pg.Client({ connectionString: stack.db.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE pgboss.job IN EXCLUSIVE MODE');

      const completing = call(child.api.url!, 'POST', `/v1/scans/${scanGuid}/complete`, {
        token,
        json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 },
      }).catch((error: unknown) => error);
      await waitUntil(async () => (await scanStatus(stack, scanGuid)).status === 'COMPLETING', 'the scan to commit COMPLETING');
      await waitUntil(() => apiWaitsOnLock(stack, APPLICATION), 'the API to wait on the job table');

      await child.api.kill();
      expect(await completing).to.be.instanceOf(Error);

      // A backend waiting on a lock does not notice that its client is gone, so it would
      // insert the job once the lock is released. Ending it first gives what a crash
      // before the insert was sent gives: no finalisation job at all.
      await stack.services.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [APPLICATION],
      );
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }

    // The agent got no response, so it sends `complete` again to the restarted API.
    await child.api.start();
    const repeat = await call(child.api.url!, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token,
      json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 },
    });
    expect(repeat.status).to.equal(200);

    // The worker polls every half second; 20 s leaves room for pg-boss's retry delays.
    await waitUntil(async () => (await scanStatus(stack, scanGuid)).status === 'OK', 'the scan to be OK', 20_000);
    expect(child.unexpectedExits, `API exits not caused by the test; logs in ${child.logFolder}`).to.deep.equal([]);
  });
});

async function scanStatus(stack: Stack, scanGuid: string): Promise<{ status: string; normalized: number }> {
  const { rows } = await stack.services.pool.query(
    `SELECT s.status, (SELECT count(*)::int FROM t_acme.ingest_chunk c WHERE c.scan_id = s.scan_id AND c.state = 'NORMALIZED') AS normalized
       FROM t_acme.scan s WHERE s.scan_guid = $1`,
    [scanGuid],
  );
  return rows[0];
}

async function apiWaitsOnLock(stack: Stack, application: string): Promise<boolean> {
  const { rows } = await stack.services.pool.query(
    "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
    [application],
  );
  return rows[0].waiting > 0;
}

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
