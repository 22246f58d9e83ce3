import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, openScan, putChunk, startHeldUpload } from '../support/http.ts';
import { ingestCounts, storedRowCount } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

// Hard input J2: a chunk id (scan and sequence number) is an idempotency key. The same id
// with a different body is a conflict, and the same chunk while the first upload is in
// flight gets a retryable 409. The same chunk after success replays the first receipt.
// Each chunk is loaded by exactly one COPY, counted here as the rows stored for the scan.
// No workers run, so the rows stay as COPY loaded them.

const CSV = `${HEADER}"D:\\x","a.txt",10,100,200,300\n"D:\\x","b.txt",20,100,200,300\n`;

describe('chunk id reuse', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cases_chunk_id', { workers: false });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  it('replays the first receipt for the same bytes', async () => {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);

    const first = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, CSV);
    const second = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, CSV);

    expect(first.status).to.equal(200);
    expect(first.body.replayed).to.equal(false);
    expect(second.status).to.equal(200);
    expect(second.body).to.deep.equal({ ...first.body, replayed: true });
    expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(2);

    // A replay still works once the scan is closed to new chunks.
    const completed = await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 },
    });
    expect(completed.body.status).to.equal('COMPLETING');
    const afterComplete = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, CSV);
    expect(afterComplete.status).to.equal(200);
    expect(afterComplete.body).to.deep.equal({ ...first.body, replayed: true });
    expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(2);
  });

  it('rejects a different body under the same chunk id', async () => {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
    const first = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, CSV);
    expect(first.status).to.equal(200);
    const before = await ingestCounts(stack, 't_acme');

    const other = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, CSV.replace('a.txt', 'c.txt'));

    expect(other.status).to.equal(409);
    expect(other.body.error.code).to.equal('CHUNK_CONFLICT');
    expect(other.body.error.message).to.contain(first.body.sha256);
    expect(other.headers.get('retry-after')).to.equal(null);
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);
    expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(2);

    // The same rows compressed differently are other bytes too, because the SHA-256 covers the body as sent.
    const plain = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, CSV, { gzip: false });
    expect(plain.status).to.equal(409);
    expect(plain.body.error.code).to.equal('CHUNK_CONFLICT');
  });

  it('returns a retryable 409 while in flight', async () => {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
    const body = `${HEADER}"D:\\y","slow.txt",1,1,1,1\n`;

    // The first upload sends its header and one row, then keeps the body open.
    const first = await startHeldUpload(stack.api!.url, tenant.agentToken, scanGuid, 0, body);
    const same = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, body, { gzip: false });
    const different = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, body.replace('slow', 'fast'), { gzip: false });
    first.release();
    const firstResponse = await first.response;

    expect(same.status).to.equal(409);
    expect(same.body.error.code).to.equal('CHUNK_IN_FLIGHT');
    expect(same.headers.get('retry-after')).to.equal('2');
    // Until the first upload commits, no body is stored to compare against.
    expect(different.status).to.equal(409);
    expect(different.body.error.code).to.equal('CHUNK_IN_FLIGHT');
    expect(firstResponse.status).to.equal(200);
    expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(1);

    const retried = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, body, { gzip: false });
    expect(retried.status).to.equal(200);
    expect(retried.body.replayed).to.equal(true);
    expect(retried.body.sha256).to.equal(((await firstResponse.json()) as { sha256: string }).sha256);
    expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(1);
  });
});
