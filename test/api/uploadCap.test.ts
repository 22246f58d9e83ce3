import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, startHeldUpload } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('chunk upload cap', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('upload_cap', { env: { STRATA_MAX_CONCURRENT_CHUNKS: '1' } });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  it('answers 503 with Retry-After beyond the cap, then accepts', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    const scanGuid = opened.body.scanGuid;

    const first = await startHeldUpload(stack.api!.url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\y","slow.txt",1,1,1,1\n`);
    const busy = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 1, `${HEADER}"D:\\y","other.txt",1,1,1,1\n`);
    const readiness = await call(stack.api!.url, 'GET', '/readyz');
    first.release();

    expect(busy.status).to.equal(503);
    expect(busy.body.error.code).to.equal('SERVER_BUSY');
    expect(busy.headers.get('retry-after')).to.equal('5');
    expect(readiness.status).to.equal(200);
    expect((await first.response).status).to.equal(200);

    const later = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 1, `${HEADER}"D:\\y","other.txt",1,1,1,1\n`);
    expect(later.status).to.equal(200);
  });
});
