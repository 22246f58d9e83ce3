import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest } from '../support/http.ts';
import { ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('folder hash collision', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('hash_collision', { workers: false });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  it('rejects the chunk instead of merging two folders', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName: 'finance' }) });

    // A real 64-bit collision cannot be produced on demand, so plant a folder that
    // carries the hash of D:\real under another path.
    await stack.services.pool.query(
      `INSERT INTO t_acme.dir (tenant_id, share_name, dir_path, dir_hash)
       VALUES ($1, 'finance', 'D:\\impostor', hashtextextended('D:\\real', 0))`,
      [tenant.id],
    );
    const before = await ingestCounts(stack, 't_acme');

    const result = await putChunk(stack.api!.url, tenant.agentToken, opened.body.scanGuid, 0, `${HEADER}"D:\\real","a.txt",1,1,1,1\n`);

    expect(result.status).to.equal(409);
    expect(result.body.error.code).to.equal('FOLDER_HASH_COLLISION');
    expect(result.body.error.message).to.contain('D:\\\\real').and.contain('D:\\\\impostor');
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);
  });
});
