import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, waitForScan } from '../support/http.ts';
import { ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('folder hash collision', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('hash_collision');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  it('fails the scan instead of merging two folders', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName: 'finance' }) });
    const scanGuid = opened.body.scanGuid;
    await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\real","a.txt",1,1,1,1\n`);

    // A real 64-bit collision cannot be produced on demand, so plant a folder that
    // carries the hash of D:\real under another path.
    await stack.services.pool.query(
      `INSERT INTO t_acme.dir (tenant_id, share_name, dir_path, dir_hash)
       VALUES ($1, 'finance', 'D:\\impostor', hashtextextended('D:\\real', 0))`,
      [tenant.id],
    );
    const before = await ingestCounts(stack, 't_acme');

    await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: 1, unreadableCount: 0 },
    });
    const scan = await waitForScan(stack.api!.url, tenant.agentToken, scanGuid);

    expect(scan.status).to.equal('FAILED');
    const { rows } = await stack.services.pool.query('SELECT error FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    expect(rows[0].error).to.contain('D:\\\\real').and.contain('D:\\\\impostor').and.contain('same 64-bit hash');
    // No folder was added, and the failed scan's rows are gone with its partition.
    const after = await ingestCounts(stack, 't_acme');
    expect(after.dirs).to.equal(before.dirs);
    expect(after.files).to.equal(0);
  });
});
