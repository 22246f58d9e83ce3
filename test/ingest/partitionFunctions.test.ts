import { expect } from 'chai';
import { INSERT_BROKEN_REF, INSERT_STALE } from '../../src/sanitize/sql/findings.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { completeAndWait, HEADER, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('scan partition functions', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  let globex: ProvisionedTenant;

  before(async () => {
    stack = await startStack('partition_functions', { workers: true });
    acme = await createTenant(stack, 'acme');
    globex = await createTenant(stack, 'globex');
  });
  after(async () => stack?.close());

  /** Scan one file into `share` of a tenant until OK, and return the scan id. */
  async function finishedScan(tenant: ProvisionedTenant, share: string): Promise<number> {
    const url = stack.api!.url;
    const scanGuid = await openScan(url, tenant.agentToken, { shareName: share });
    expect((await putChunk(url, tenant.agentToken, scanGuid, 0, `${HEADER}"D:\\${share}","a.txt",1,1,1,1\n`)).status).to.equal(200);
    expect((await completeAndWait(url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: 1 })).status).to.equal('OK');
    const { rows } = await stack.services.pool.query<{ scan_id: number }>(`SELECT scan_id FROM t_${tenant.code}.scan WHERE scan_guid = $1`, [scanGuid]);
    return rows[0]!.scan_id;
  }

  /** Run `sql` as strata_ingest in `tenant`'s context, and return the error message or undefined. */
  async function asIngest(tenant: ProvisionedTenant, sql: string): Promise<string | undefined> {
    const client = await stack.services.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE strata_ingest');
      await client.query("SELECT set_config('search_path', $1, true), set_config('app.tenant_id', $2, true)", [`t_${tenant.code}`, tenant.id]);
      await client.query(sql);
      await client.query('COMMIT');
      return undefined;
    } catch (error) {
      await client.query('ROLLBACK');
      return (error as Error).message;
    } finally {
      client.release();
    }
  }

  /** Run count_scan_partition as strata_ingest in `tenant`'s context. */
  async function countAsIngest(tenant: ProvisionedTenant, scanId: number): Promise<Record<string, number>> {
    const client = await stack.services.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL ROLE strata_ingest');
      await client.query("SELECT set_config('search_path', $1, true), set_config('app.tenant_id', $2, true)", [`t_${tenant.code}`, tenant.id]);
      const { rows } = await client.query<Record<string, number>>('SELECT * FROM count_scan_partition($1)', [scanId]);
      return rows[0]!;
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  async function tableExists(name: string): Promise<boolean> {
    const { rows } = await stack.services.pool.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [name]);
    return rows[0]!.present;
  }

  it('rejects another tenant’s session', async () => {
    const scanId = await finishedScan(globex, 'finance');
    await stack.services.pool.query(`UPDATE t_globex.scan SET status = 'EXPIRED' WHERE scan_id = $1`, [scanId]);

    for (const call of ['drop_scan_partition', 'drop_scan_folders', 'index_scan_partition', 'analyze_scan_partition']) {
      expect(await asIngest(acme, `SELECT t_globex.${call}(${scanId})`), call).to.contain('not found for the tenant');
    }
    expect(await asIngest(acme, `SELECT * FROM t_globex.count_scan_partition(${scanId})`)).to.contain('not found for the tenant');
    expect(await tableExists(`t_globex.file_s${scanId}`)).to.equal(true);
  });

  it('drops no rows of an OK scan', async () => {
    const scanId = await finishedScan(acme, 'legal');
    expect(await asIngest(acme, `SELECT drop_scan_partition(${scanId})`)).to.contain('only FAILED and EXPIRED scans lose their rows');
    expect(await tableExists(`t_acme.file_s${scanId}`)).to.equal(true);
  });

  it('counts the same with or without staged folders', async () => {
    const url = stack.api!.url;
    const scanGuid = await openScan(url, acme.agentToken, { shareName: 'totals' });
    const lines = ['a.txt', 'b.txt', 'c.txt'].map((name, index) => `"D:\\totals\\d${index % 2}","${name}",${10 * (index + 1)},5,1,1\n`);
    // The first folder appears in both chunks, so it is staged twice.
    expect((await putChunk(url, acme.agentToken, scanGuid, 0, `${HEADER}${lines[0]}${lines[1]}`)).status).to.equal(200);
    expect((await putChunk(url, acme.agentToken, scanGuid, 1, `${HEADER}${lines[2]}`)).status).to.equal(200);
    const { rows } = await stack.services.pool.query<{ scan_id: number }>('SELECT scan_id FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    const scanId = rows[0]!.scan_id;

    const staged = await countAsIngest(acme, scanId);
    await stack.services.pool.query(`SET ROLE strata_stager; DROP TABLE t_acme.scan_dir_s${scanId}; RESET ROLE`);
    const grouped = await countAsIngest(acme, scanId);

    expect(staged).to.deep.equal({ dirs: 2, files: 3, bytes: 60, atime_suspect: 0 });
    expect(grouped).to.deep.equal(staged);
  });

  it('keys a partition on name hash', async () => {
    const scanId = await finishedScan(acme, 'keyed');
    const { rows } = await stack.services.pool.query<{ indexdef: string }>(
      "SELECT indexdef FROM pg_indexes WHERE schemaname = 't_acme' AND indexname = $1",
      [`file_s${scanId}_key`],
    );
    expect(rows[0]?.indexdef).to.contain('UNIQUE INDEX');
    expect(rows[0]?.indexdef).to.contain('(dir_hash, hashtextextended(name,');

    const error = await stack.services.pool.query(`INSERT INTO t_acme.file_s${scanId} SELECT * FROM t_acme.file_s${scanId}`).catch((caught: Error) => caught);
    expect(error).to.be.instanceOf(Error);
    expect((error as Error).message).to.contain('duplicate key');
  });

  it('serves findings lookups from the key', async () => {
    const scanId = await finishedScan(acme, 'lookup');
    const client = await stack.services.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('search_path', 't_acme', true), set_config('enable_seqscan', 'off', true)");
      for (const [kind, sql] of [['STALE', INSERT_STALE], ['BROKEN_REF', INSERT_BROKEN_REF]] as const) {
        await client.query(`PREPARE finding_${kind} (text, bigint, bigint, bigint) AS ${sql}`);
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE finding_${kind} (NULL, 1, 0, 0)`);
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n');

        // The key finds the row by both hashes instead of reading the whole folder.
        expect(plan, kind).to.contain(`file_s${scanId}_key`);
        expect(plan, kind).to.match(/Index Cond: \(\(dir_hash = t\.dir_hash\) AND \(hashtextextended\(name, '0'::bigint\) = hashtextextended\(t\.name/);
      }
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('drops left-over staged folders later', async () => {
    const first = await finishedScan(acme, 'ops');
    // As if the drop after the first scan had not got its lock.
    await stack.services.pool.query(`SET ROLE strata_stager; CREATE TABLE t_acme.scan_dir_s${first} PARTITION OF t_acme.scan_dir FOR VALUES IN (${first}); RESET ROLE`);

    await finishedScan(acme, 'ops');

    expect(await tableExists(`t_acme.scan_dir_s${first}`)).to.equal(false);
  });
});
