import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { QueueNames } from '../../src/jobs/queues.ts';
import { call, completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { fileRows, scanIdOf, storedRowCount } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

// Hard input J1: six chunk uploads of one scan in a burst, a retried upload, and extra
// finalisation jobs that share the scan's job key, with real pg-boss workers. Every
// chunk must be stored exactly once.

const CHUNKS = 6;
const ROWS_PER_CHUNK = 25;

/** Rows of one chunk: half in a folder of its own, half in a folder every chunk shares. */
function chunkRows(seq: number): string[][] {
  return Array.from({ length: ROWS_PER_CHUNK }, (_, i) => {
    const folder = i % 2 === 0 ? `D:\\burst\\chunk ${seq}` : 'D:\\burst\\shared';
    return [folder, `file ${seq}-${i}.txt`, String(seq * 1000 + i), '1600000000', '1600000001', '1500000000'];
  });
}

describe('chunk burst', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cases_chunk_burst');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  /** Wait until no finalisation job for the scan is waiting or running. */
  async function waitForFinaliseJobs(scanId: number): Promise<void> {
    const key = `${tenant.id}:${scanId}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const jobs = await stack.boss!.findJobs(QueueNames.finalize, { key });
      if (jobs.every((job) => job.state === 'completed')) return;
      if (Date.now() > deadline) throw new Error(`finalise jobs for ${key} still pending: ${jobs.map((job) => job.state).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('stores every chunk of a burst once', async () => {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
    const bodies = Array.from({ length: CHUNKS }, (_, seq) => HEADER + csvLines(chunkRows(seq)));

    const receipts = await Promise.all(bodies.map((body, seq) => putChunk(stack.api!.url, tenant.agentToken, scanGuid, seq, body)));
    for (const receipt of receipts) {
      expect(receipt.status, JSON.stringify(receipt.body)).to.equal(200);
      expect(receipt.body.replayed).to.equal(false);
    }

    // An agent that lost the first response retries, and the chunk is not loaded again.
    const retried = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 2, bodies[2]!);
    expect(retried.body).to.deep.equal({ ...receipts[2]!.body, replayed: true });

    // A finalisation job sent before the scan is complete finds an OPEN scan and does nothing.
    const scanId = await scanIdOf(stack, 't_acme', scanGuid);
    await stack.queue!.finalize({ tenantId: tenant.id, scanId });
    await waitForFinaliseJobs(scanId);

    const view = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: CHUNKS, rowCount: CHUNKS * ROWS_PER_CHUNK });
    expect(view.status).to.equal('OK');
    expect(view.chunksNormalized).to.equal(CHUNKS);
    expect(view.fileCount).to.equal(CHUNKS * ROWS_PER_CHUNK);
    expect(view.duplicateCount).to.equal(0);
    expect(view.dirCount).to.equal(CHUNKS + 1);

    const expected = Array.from({ length: CHUNKS }, (_, seq) => chunkRows(seq))
      .flat()
      .map((row) => row.join('|'))
      .sort();
    expect(await fileRows(stack, 't_acme', scanGuid)).to.deep.equal(expected);
    expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(CHUNKS * ROWS_PER_CHUNK);

    // A job for a scan that is already OK finds nothing to do.
    await stack.queue!.finalize({ tenantId: tenant.id, scanId });
    await waitForFinaliseJobs(scanId);
    expect(await fileRows(stack, 't_acme', scanGuid)).to.deep.equal(expected);
    const again = await call(stack.api!.url, 'GET', `/v1/scans/${scanGuid}`, { token: tenant.agentToken });
    expect(again.body).to.deep.equal(view);
  });

  it('answers doubled uploads without a 500', async () => {
    for (let round = 0; round < 5; round++) {
      const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
      const bodies = Array.from({ length: CHUNKS }, (_, seq) => HEADER + csvLines(chunkRows(seq)));
      const uploads = bodies.flatMap((body, seq) => [seq, seq].map((same) => putChunk(stack.api!.url, tenant.agentToken, scanGuid, same, body)));

      for (const result of await Promise.all(uploads)) {
        const inFlight = result.status === 409 && result.body.error.code === 'CHUNK_IN_FLIGHT';
        expect(result.status === 200 || inFlight, JSON.stringify(result.body)).to.equal(true);
      }
      expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(CHUNKS * ROWS_PER_CHUNK);
    }
  });
});
