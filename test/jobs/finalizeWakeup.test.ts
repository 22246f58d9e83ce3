import { expect } from 'chai';
import type { PgBoss } from 'pg-boss';
import { startBoss } from '../../src/jobs/boss.ts';
import { registerWorkers } from '../../src/jobs/workers.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { completeAndWait, HEADER, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

/** Far longer than the wait the test allows, so only a notification can start the job in time. */
const POLLING_SECONDS = 60;

describe('finalisation wake-up', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let workerBoss: PgBoss | undefined;

  before(async () => {
    // The stack's API sends jobs; a separate pg-boss, as in `strata worker`, listens and works them.
    stack = await startStack('finalize_wakeup', { workers: false });
    tenant = await createTenant(stack, 'acme');
    workerBoss = await startBoss(stack.db.url, stack.services.log, { max: 2, listen: true });
    await registerWorkers({
      boss: workerBoss,
      pool: stack.services.pool,
      log: stack.services.log,
      finalizeConcurrency: 1,
      keepScans: 3,
      finalizeMemoryMb: 64,
      pollingIntervalSeconds: POLLING_SECONDS,
    });
    // Let the workers' first fetch, made at once on start, find the queue empty.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  });
  after(async () => {
    await workerBoss?.stop({ graceful: false, close: true, timeout: 5_000 });
    await stack?.close();
  });

  it('finalises before the next poll', async () => {
    const url = stack.api!.url;
    const scanGuid = await openScan(url, tenant.agentToken);
    const put = await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\docs","a.txt",1,1,1,1\n`);
    expect(put.status).to.equal(200);

    const started = Date.now();
    const scan = await completeAndWait(url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: 1 });

    expect(scan.status).to.equal('OK');
    expect(Date.now() - started).to.be.below((POLLING_SECONDS * 1000) / 4);
  });
});
