import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, waitForScan } from '../support/http.ts';
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
    // this: a COMPLETING scan and no job. The agent, which received no response, repeats the request.
    await stack.services.pool.query("DELETE FROM pgboss.job WHERE name = 'ingest.finalize'");
    expect((await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, complete)).status).to.equal(200);
    await startWorkers(stack);

    const scan = await waitForScan(stack.api!.url, tenant.agentToken, scanGuid);
    expect(scan.status).to.equal('OK');
    expect(scan.fileCount).to.equal(2);
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal({ chunks: 1, files: 2, dirs: 1 });
  });
});
