import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { completeAndWait, HEADER, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('folder hash collision', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('hash_collision', { workers: true });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function storedFolders(share: string): Promise<string[]> {
    const { rows } = await stack.services.pool.query<{ dir_path: string }>('SELECT dir_path FROM t_acme.dir WHERE share_name = $1 ORDER BY dir_path', [share]);
    return rows.map((row) => row.dir_path);
  }

  async function partitions(): Promise<string[]> {
    const { rows } = await stack.services.pool.query<{ relname: string }>(
      "SELECT relname FROM pg_class WHERE relnamespace = 't_acme'::regnamespace AND relname ~ '^(file|scan_dir)_s' ORDER BY relname",
    );
    return rows.map((row) => row.relname);
  }

  it('fails on a stored folder’s hash', async () => {
    const url = stack.api!.url;
    const scanGuid = await openScan(url, tenant.agentToken, { shareName: 'finance' });

    // A real 64-bit collision cannot be produced on demand, so plant a folder that
    // carries the hash of D:\real under another path.
    await stack.services.pool.query(
      `INSERT INTO t_acme.dir (tenant_id, share_name, dir_path, dir_hash)
       VALUES ($1, 'finance', 'D:\\impostor', hashtextextended('D:\\real', 0))`,
      [tenant.id],
    );
    const put = await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\real","a.txt",1,1,1,1\n"D:\\other","b.txt",1,1,1,1\n`);
    expect(put.status).to.equal(200);

    const scan = await completeAndWait(url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: 2 });

    expect(scan.status).to.equal('FAILED');
    expect(scan.error).to.contain('D:\\\\real').and.contain('D:\\\\impostor').and.contain('same 64-bit hash');
    // The merge was undone: D:\other did not reach dir either, and the scan's tables are gone.
    expect(await storedFolders('finance')).to.deep.equal(['D:\\impostor']);
    expect(await partitions()).to.deep.equal([]);
  });

  it('fails a scan with two staged folders under one hash', async () => {
    const url = stack.api!.url;
    const scanGuid = await openScan(url, tenant.agentToken, { shareName: 'legal' });
    expect((await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\first","a.txt",1,1,1,1\n`)).status).to.equal(200);

    // As if a second chunk had staged another path with the same hash.
    const { rows } = await stack.services.pool.query<{ scan_id: number }>('SELECT scan_id FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    await stack.services.pool.query(
      `INSERT INTO t_acme.scan_dir (tenant_id, scan_id, dir_hash, dir_path)
       SELECT tenant_id, scan_id, dir_hash, 'D:\\second' FROM t_acme.scan_dir WHERE scan_id = $1`,
      [rows[0]!.scan_id],
    );

    const scan = await completeAndWait(url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: 1 });

    expect(scan.status).to.equal('FAILED');
    expect(scan.error).to.contain('D:\\\\first').and.contain('D:\\\\second');
    expect(await storedFolders('legal')).to.deep.equal([]);
  });

  it('adds folders, drops the staging', async () => {
    const url = stack.api!.url;
    for (const names of [['x.txt'], ['x.txt', 'y.txt']]) {
      const scanGuid = await openScan(url, tenant.agentToken, { shareName: 'ops' });
      const csv = names.map((name, index) => `"D:\\ops\\${index}","${name}",1,1,1,1\n`).join('');
      expect((await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}${csv}`)).status).to.equal(200);
      const scan = await completeAndWait(url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: names.length });
      expect(scan.status).to.equal('OK');
    }

    expect(await storedFolders('ops')).to.deep.equal(['D:\\ops\\0', 'D:\\ops\\1']);
    expect((await partitions()).filter((name) => name.startsWith('scan_dir'))).to.deep.equal([]);
  });
});
