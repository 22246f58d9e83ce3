import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, startHeldUpload, waitForScan } from '../support/http.ts';
import { ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, startWorkers, type Stack } from '../support/stack.ts';

describe('chunk upload exactly once', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('exactly_once');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function openScan(): Promise<string> {
    const result = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    return result.body.scanGuid;
  }

  const csv = `${HEADER}"D:\\x","a.txt",10,100,200,300\n"D:\\x","b.txt",20,100,200,300\n`;

  it('opening a scan twice returns the same scan', async () => {
    const request = scanRequest();
    const first = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: request });
    const second = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: request });
    expect(first.status).to.equal(201);
    expect(second.status).to.equal(200);
    expect(second.body.scanGuid).to.equal(request.scanGuid);
  });

  it('a chunk sent twice is ingested once', async () => {
    const scanGuid = await openScan();
    const first = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv);
    const second = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv);

    expect(first.status).to.equal(200);
    expect(first.body.replayed).to.equal(false);
    expect(second.status).to.equal(200);
    expect(second.body).to.deep.equal({ ...first.body, replayed: true });

    await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 },
    });
    const scan = await waitForScan(stack.api!.url, tenant.agentToken, scanGuid);
    expect(scan.status).to.equal('OK');
    expect(scan.fileCount).to.equal(2);

    const { rows } = await stack.services.pool.query(
      'SELECT count(*)::int AS n FROM t_acme.file f JOIN t_acme.scan s USING (scan_id) WHERE s.scan_guid = $1',
      [scanGuid],
    );
    expect(rows[0].n).to.equal(2);
  });

  it('a different body under the same chunk is a conflict', async () => {
    const scanGuid = await openScan();
    await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv);
    const before = await ingestCounts(stack, 't_acme');

    const other = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv.replace('a.txt', 'c.txt'));
    expect(other.status).to.equal(409);
    expect(other.body.error.code).to.equal('CHUNK_CONFLICT');
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);
  });

  it('the same chunk while the first is in flight gets a retryable 409', async () => {
    const scanGuid = await openScan();

    // The first upload sends its header and one row, then keeps the body open.
    const first = await startHeldUpload(stack.api!.url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\y","slow.txt",1,1,1,1\n`);
    const second = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\y","slow.txt",1,1,1,1\n`, { gzip: false });
    first.release();
    const firstResult = await first.response;

    expect(second.status).to.equal(409);
    expect(second.body.error.code).to.equal('CHUNK_IN_FLIGHT');
    expect(second.headers.get('retry-after')).to.equal('2');
    expect(firstResult.status).to.equal(200);

    const retried = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\y","slow.txt",1,1,1,1\n`, { gzip: false });
    expect(retried.body.replayed).to.equal(true);
  });

  it('completing with a missing chunk names it', async () => {
    const scanGuid = await openScan();
    await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv);
    await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 2, csv);

    const result = await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 3, rowCount: 6, unreadableCount: 0 },
    });
    expect(result.status).to.equal(409);
    expect(result.body.error.code).to.equal('CHUNKS_MISSING');
    expect(result.body.error.message).to.contain('chunk(s) 1 ');
  });

  it('completing with a wrong row count is rejected', async () => {
    const scanGuid = await openScan();
    await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv);

    const result = await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: 3, unreadableCount: 0 },
    });
    expect(result.status).to.equal(422);
    expect(result.body.error.code).to.equal('ROW_COUNT_MISMATCH');
  });

  it('a completed scan takes no new chunk', async () => {
    const scanGuid = await openScan();
    await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 0, rowCount: 0, unreadableCount: 0 },
    });
    const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv);
    expect(result.status).to.equal(409);
    expect(result.body.error.code).to.equal('SCAN_CLOSED');
  });

});

describe('scan whose finalisation job was lost', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('lost_job', { workers: false });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  it('is finalised once the agent repeats complete', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    const scanGuid = opened.body.scanGuid;
    const csv = `${HEADER}"D:\\x","a.txt",10,100,200,300\n"D:\\x","b.txt",20,100,200,300\n`;
    expect((await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv)).status).to.equal(200);
    const complete = { token: tenant.agentToken, json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 } };
    expect((await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, complete)).body.status).to.equal('COMPLETING');

    // A crash after complete committed and before its job was sent leaves exactly
    // this: a COMPLETING scan and no job. The agent, which got no answer, repeats.
    await stack.services.pool.query("DELETE FROM pgboss.job WHERE name = 'ingest.finalize'");
    expect((await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, complete)).status).to.equal(200);
    await startWorkers(stack);

    const scan = await waitForScan(stack.api!.url, tenant.agentToken, scanGuid);
    expect(scan.status).to.equal('OK');
    expect(scan.fileCount).to.equal(2);
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal({ chunks: 1, files: 2, dirs: 1 });
  });
});
