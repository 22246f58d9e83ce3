import { expect } from 'chai';
import { migrateTenants } from '../../src/tenancy/migrateTenants.ts';
import { provisionTenant, type ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { TENANT_MIGRATIONS, TENANT_TEMPLATE_VERSION } from '../../tenant-template/index.ts';
import { completeAndWait, HEADER, openScan, putChunk } from '../support/http.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('tenant template upgrade', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('template_upgrade', { api: false, workers: false });
  });
  after(async () => stack?.close());

  it('moves files from folder ids to folder hashes and into scan partitions', async () => {
    const first = TENANT_MIGRATIONS.slice(0, 1);
    const tenant = await provisionTenant({ ...stack.services, migrations: first }, { code: 'legacy', name: 'Legacy' });
    const db = stack.services.pool;

    // Rows as the first template stored them, written directly as the superuser.
    const client = await db.connect();
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenant.id]);
    await client.query(`
      INSERT INTO t_legacy.scan (tenant_id, scan_id, scan_guid, share_name, source_type, root_path, path_style, started_at, status, finished_at)
      VALUES ($1, 1, gen_random_uuid(), 'finance', 'NTFS', 'D:\\', 'windows', 1, 'OK', 2)`, [tenant.id]);
    await client.query(`
      INSERT INTO t_legacy.dir (tenant_id, dir_id, share_name, dir_path, path_sha256)
      VALUES ($1, 10, 'finance', 'D:\\a', sha256(convert_to('D:\\a', 'UTF8'))),
             ($1, 11, 'finance', 'D:\\b', sha256(convert_to('D:\\b', 'UTF8')))`, [tenant.id]);
    await client.query(`
      INSERT INTO t_legacy.file (tenant_id, scan_id, dir_id, name, size_bytes, atime_unix, mtime_unix, ctime_unix)
      VALUES ($1, 1, 10, 'x.txt', 1, 1, 1, 1), ($1, 1, 11, 'y.txt', 2, 2, 2, 2)`, [tenant.id]);
    await client.query('COMMIT');
    client.release();

    const report = await migrateTenants(db, stack.services.orm, stack.services.log, { concurrency: 1 });
    expect(report.failed).to.equal(0);

    const { rows } = await db.query(
      `SELECT d.dir_path, f.name FROM t_legacy.file f JOIN t_legacy.dir d ON d.dir_hash = f.dir_hash ORDER BY f.name`,
    );
    expect(rows).to.deep.equal([
      { dir_path: 'D:\\a', name: 'x.txt' },
      { dir_path: 'D:\\b', name: 'y.txt' },
    ]);
    // The finished scan's partition has its unique index.
    const index = await db.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 't_legacy' AND tablename = 'file_s1'");
    expect(index.rows.map((row) => row.indexdef).join()).to.contain('UNIQUE INDEX').and.contain('(dir_hash, name)');
    const version = await db.query("SELECT schema_version FROM control.tenant WHERE code = 'legacy'");
    expect(version.rows[0].schema_version).to.equal(TENANT_TEMPLATE_VERSION);
  });
});

describe('tenant template upgrade with a scan open', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('template_upgrade_open', { workers: true });
  });
  after(async () => stack?.close());

  /** Provisions tenant `code` with the migrations before `migration`, and opens a scan of share finance. */
  async function openScanBefore(migration: string, code: string): Promise<{ tenant: ProvisionedTenant; scanGuid: string }> {
    const earlier = TENANT_MIGRATIONS.slice(0, TENANT_MIGRATIONS.findIndex((entry) => entry.name === migration));
    const tenant = await provisionTenant({ ...stack.services, migrations: earlier }, { code, name: code });
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'finance' });
    return { tenant, scanGuid };
  }

  /** Applies every pending tenant migration and expects none to fail. */
  async function migrateAll(): Promise<void> {
    const report = await migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 1 });
    expect(report.failed).to.equal(0);
  }

  it('counts earlier folders of an open scan', async () => {
    const { tenant, scanGuid } = await openScanBefore('T0014_tenant_predicate_once', 'midcount');
    const url = stack.api!.url;
    const first = await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\a","x.txt",10,1,1,1\n"D:\\b","y.txt",20,1,1,1\n`);
    expect(first.status).to.equal(200);

    // What T0013 left of a scan open across it: the first chunk's folders in dir, none staged.
    const { rows: ids } = await stack.services.pool.query<{ scan_id: number }>('SELECT scan_id FROM t_midcount.scan WHERE scan_guid = $1', [scanGuid]);
    const staged = `t_midcount.scan_dir_s${ids[0]!.scan_id}`;
    await stack.services.pool.query(`INSERT INTO t_midcount.dir (tenant_id, share_name, dir_path, dir_hash) SELECT tenant_id, 'finance', dir_path, dir_hash FROM ${staged}`);
    await stack.services.pool.query(`DELETE FROM ${staged}`);

    await migrateAll();

    const second = await putChunk(url, tenant.agentToken, scanGuid, 1, `${HEADER}"D:\\c","z.txt",30,1,1,1\n`);
    expect(second.status).to.equal(200);
    const scan = await completeAndWait(url, tenant.agentToken, scanGuid, { chunkCount: 2, rowCount: 3 });
    expect(scan.status).to.equal('OK');
    const { rows } = await stack.services.pool.query('SELECT file_count, dir_count, total_bytes FROM t_midcount.scan WHERE scan_guid = $1', [scanGuid]);
    expect(rows[0]).to.deep.equal({ file_count: 3, dir_count: 3, total_bytes: 60 });
  });

  it('stages folders of an open scan', async () => {
    const { tenant, scanGuid } = await openScanBefore('T0013_scan_folders', 'midscan');
    const url = stack.api!.url;

    await migrateAll();

    const put = await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\a","x.txt",1,1,1,1\n`);
    expect(put.status).to.equal(200);
    const scan = await completeAndWait(url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: 1 });
    expect(scan.status).to.equal('OK');
    const { rows } = await stack.services.pool.query("SELECT dir_path FROM t_midscan.dir WHERE share_name = 'finance'");
    expect(rows).to.deep.equal([{ dir_path: 'D:\\a' }]);
  });
});
