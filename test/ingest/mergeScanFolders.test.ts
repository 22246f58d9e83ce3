import { expect } from 'chai';
import type pg from 'pg';
import { folderHash } from '../../src/ingest/folderHash.ts';
import { mergeScanFolders, type FolderMerge } from '../../src/ingest/mergeScanFolders.ts';
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

  /** Stage `path` for scan `scanId` under the hash of its staged folder `like`, as a later chunk would. */
  async function stageAgain(scanId: number, like: string, path: string): Promise<void> {
    await stack.services.pool.query(
      `INSERT INTO t_acme.scan_dir (tenant_id, scan_id, dir_hash, dir_path)
       SELECT tenant_id, scan_id, dir_hash, $3 FROM t_acme.scan_dir WHERE scan_id = $1 AND dir_path = $2`,
      [scanId, like, path],
    );
  }

  async function storedFolders(share: string): Promise<string[]> {
    const { rows } = await stack.services.pool.query<{ dir_path: string }>('SELECT dir_path FROM t_acme.dir WHERE share_name = $1 ORDER BY dir_path', [share]);
    return rows.map((row) => row.dir_path);
  }

  /**
   * Merge scan `scanId` of `share` while another transaction adds folder `path` under the
   * hash of `hashOf`, uncommitted, so the merge's insert waits for it. The other
   * transaction commits once the merge waits.
   */
  async function mergeDuringRace(share: string, scanId: number, path: string, hashOf = path): Promise<FolderMerge> {
    const pool = stack.services.pool;
    const other = await pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('INSERT INTO t_acme.dir (tenant_id, share_name, dir_path, dir_hash) VALUES ($1, $2, $3, $4)', [
        tenant.id,
        share,
        path,
        folderHash(hashOf).toString(),
      ]);
      const merging = mergeScanFolders(pool, tenant, scanId, share, 64);
      await waitForLockWait(pool);
      await other.query('COMMIT');
      return await merging;
    } finally {
      other.release();
    }
  }

  it('adds only missing folders, once', async () => {
    const first = await stagedScan('finance', ['D:\\a', 'D:\\b']);
    expect(await mergeScanFolders(stack.services.pool, tenant, first, 'finance', 64)).to.deep.equal({ added: 2 });

    const second = await stagedScan('finance', ['D:\\b', 'D:\\c']);
    expect(await mergeScanFolders(stack.services.pool, tenant, second, 'finance', 64)).to.deep.equal({ added: 1 });
    expect(await mergeScanFolders(stack.services.pool, tenant, second, 'finance', 64)).to.deep.equal({ added: 0 });
    expect(await storedFolders('finance')).to.deep.equal(['D:\\a', 'D:\\b', 'D:\\c']);
  });

  it('adds many missing folders by anti-join', async () => {
    const first = await stagedScan('archive', ['D:\\a']);
    expect(await mergeScanFolders(stack.services.pool, tenant, first, 'archive', 64)).to.deep.equal({ added: 1 });

    // More missing folders than may be listed: the merge takes the anti-join over all.
    const second = await stagedScan('archive', ['D:\\a', 'D:\\b', 'D:\\c']);
    expect(await mergeScanFolders(stack.services.pool, tenant, second, 'archive', 64, 1)).to.deep.equal({ added: 2 });
    expect(await storedFolders('archive')).to.deep.equal(['D:\\a', 'D:\\b', 'D:\\c']);
  });

  it('fails on two new folders under one hash', async () => {
    const first = await stagedScan('projects', ['D:\\old']);
    expect(await mergeScanFolders(stack.services.pool, tenant, first, 'projects', 64)).to.deep.equal({ added: 1 });

    // As if a second chunk had staged another path with the hash of D:\new.
    const second = await stagedScan('projects', ['D:\\old', 'D:\\new']);
    await stageAgain(second, 'D:\\new', 'D:\\twin');

    const merged = await mergeScanFolders(stack.services.pool, tenant, second, 'projects', 64);

    expect(merged).to.have.property('collision').that.contains('D:\\\\new').and.contains('D:\\\\twin');
    expect(await storedFolders('projects')).to.deep.equal(['D:\\old']);
  });

  it('adds a first scan’s folders once', async () => {
    const scanId = await stagedScan('media', ['D:\\a', 'D:\\b']);
    // As if a second chunk had staged D:\a again.
    await stageAgain(scanId, 'D:\\a', 'D:\\a');

    expect(await mergeScanFolders(stack.services.pool, tenant, scanId, 'media', 64)).to.deep.equal({ added: 2 });
    expect(await storedFolders('media')).to.deep.equal(['D:\\a', 'D:\\b']);
  });

  it('fails a first scan on one hash twice', async () => {
    const scanId = await stagedScan('design', ['D:\\a', 'D:\\new']);
    await stageAgain(scanId, 'D:\\new', 'D:\\twin');

    const merged = await mergeScanFolders(stack.services.pool, tenant, scanId, 'design', 64);

    expect(merged).to.have.property('collision').that.contains('D:\\\\new').and.contains('D:\\\\twin');
    expect(await storedFolders('design')).to.deep.equal([]);
  });

  it('fails a first scan on a racing twin', async () => {
    const scanId = await stagedScan('sales', ['D:\\race', 'D:\\solo']);

    // Another scan adds a different path under D:\race's hash.
    const merged = await mergeDuringRace('sales', scanId, 'D:\\imposter', 'D:\\race');

    expect(merged).to.have.property('collision').that.contains('D:\\\\race').and.contains('D:\\\\imposter');
    expect(await storedFolders('sales')).to.deep.equal(['D:\\imposter']);
  });

  it('survives a race while adding listed folders', async () => {
    const first = await stagedScan('hr', ['D:\\base']);
    expect(await mergeScanFolders(stack.services.pool, tenant, first, 'hr', 64)).to.deep.equal({ added: 1 });
    const scanId = await stagedScan('hr', ['D:\\base', 'D:\\race', 'D:\\solo']);

    // The probe does not see the other scan's uncommitted D:\race, so the insert waits
    // for it, then fails and falls back.
    expect(await mergeDuringRace('hr', scanId, 'D:\\race')).to.deep.equal({ added: 1 });
    expect(await storedFolders('hr')).to.deep.equal(['D:\\base', 'D:\\race', 'D:\\solo']);
  });

  it('survives a race with another scan', async () => {
    const scanId = await stagedScan('legal', ['D:\\race', 'D:\\solo']);

    // The other scan has added D:\race but not committed, so this merge does not see
    // it and its insert waits for it, then fails and falls back.
    expect(await mergeDuringRace('legal', scanId, 'D:\\race')).to.deep.equal({ added: 1 });
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
