import { expect } from 'chai';
import type pg from 'pg';
import { folderHash } from '../../src/ingest/folderHash.ts';
import { mergeScanFolders } from '../../src/ingest/mergeScanFolders.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { HEADER, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('merging a scan’s folders', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('merge_folders', { workers: false });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  /** Open a scan of `share`, store one chunk with a file in each folder, and return the scan id. */
  async function stagedScan(share: string, folders: string[]): Promise<number> {
    const url = stack.api!.url;
    const scanGuid = await openScan(url, tenant.agentToken, { shareName: share });
    const csv = folders.map((folder) => `"${folder}","a.txt",1,1,1,1\n`).join('');
    expect((await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}${csv}`)).status).to.equal(200);
    const { rows } = await stack.services.pool.query<{ scan_id: number }>('SELECT scan_id FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    return rows[0]!.scan_id;
  }

  async function storedFolders(share: string): Promise<string[]> {
    const { rows } = await stack.services.pool.query<{ dir_path: string }>('SELECT dir_path FROM t_acme.dir WHERE share_name = $1 ORDER BY dir_path', [share]);
    return rows.map((row) => row.dir_path);
  }

  it('adds only missing folders, once', async () => {
    const first = await stagedScan('finance', ['D:\\a', 'D:\\b']);
    expect(await mergeScanFolders(stack.services.pool, tenant, first, 'finance', 64)).to.deep.equal({ added: 2 });

    const second = await stagedScan('finance', ['D:\\b', 'D:\\c']);
    expect(await mergeScanFolders(stack.services.pool, tenant, second, 'finance', 64)).to.deep.equal({ added: 1 });
    expect(await mergeScanFolders(stack.services.pool, tenant, second, 'finance', 64)).to.deep.equal({ added: 0 });
    expect(await storedFolders('finance')).to.deep.equal(['D:\\a', 'D:\\b', 'D:\\c']);
  });

  it('survives a race with another scan', async () => {
    const scanId = await stagedScan('legal', ['D:\\race', 'D:\\solo']);
    const pool = stack.services.pool;
    const other = await pool.connect();
    try {
      // The other scan has added D:\race but not committed, so this merge does not see
      // it and its insert waits for it, then fails and falls back.
      await other.query('BEGIN');
      await other.query("INSERT INTO t_acme.dir (tenant_id, share_name, dir_path, dir_hash) VALUES ($1, 'legal', 'D:\\race', $2)", [
        tenant.id,
        folderHash('D:\\race').toString(),
      ]);
      const merging = mergeScanFolders(pool, tenant, scanId, 'legal', 64);
      await waitForLockWait(pool);
      await other.query('COMMIT');

      expect(await merging).to.deep.equal({ added: 1 });
    } finally {
      other.release();
    }
    expect(await storedFolders('legal')).to.deep.equal(['D:\\race', 'D:\\solo']);
  });
});

/** Wait until some backend of the test database waits for a lock. */
async function waitForLockWait(pool: pg.Pool): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { rows } = await pool.query<{ waiting: number }>(
      "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows[0]!.waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('no backend started waiting for the lock');
}
