import { readFile, stat, writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { checkTenantDrift } from '../../src/tenancy/checkTenantDrift.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { runStrata, tokenIn } from '../support/cli.ts';
import { call, HEADER, putChunk, scanRequest, waitForScan } from '../support/http.ts';
import { fileRows } from '../support/rows.ts';
import { skipWithoutPgTools } from '../support/pgTools.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('strata tenant export and import', () => {
  let source: Stack;
  let target: Stack;
  let acme: ProvisionedTenant;
  let scanGuid: string;
  let workDir: string;
  let exportFile: string;

  before(function () {
    skipWithoutPgTools(this);
  });

  before(async () => {
    source = await startStack('cli_export');
    target = await startStack('cli_import', { workers: false });
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-export-test-'));
    exportFile = path.join(workDir, 'acme.export');
    acme = await createTenant(source, 'acme');

    const scan = scanRequest();
    scanGuid = scan.scanGuid;
    expect((await call(source.api!.url, 'POST', '/v1/scans', { token: acme.agentToken, json: scan })).status).to.equal(201);
    const csv = `${HEADER}"D:\\Shares\\Finance","a.txt",1,1,1,1\n"D:\\Shares\\Finance\\Q1","b\tc.txt",2,2,2,2\n"D:\\Shares","café.txt",3,3,3,3\n`;
    expect((await putChunk(source.api!.url, acme.agentToken, scanGuid, 0, csv)).status).to.equal(200);
    const done = await call(source.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: acme.agentToken,
      json: { chunkCount: 1, rowCount: 3, unreadableCount: 0 },
    });
    expect(done.status).to.equal(200);
    expect((await waitForScan(source.api!.url, acme.agentToken, scanGuid)).status).to.equal('OK');
  });
  after(async () => {
    await source?.close();
    await target?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  async function scanVia(stack: Stack, token: string): Promise<{ status: number; fileCount?: number }> {
    const result = await call(stack.api!.url, 'GET', `/v1/scans/${scanGuid}`, { token });
    return { status: result.status, fileCount: result.body?.fileCount };
  }

  it('export writes a private file with a manifest', async () => {
    const result = await runStrata(source, ['tenant', 'export', '--tenant', 'acme', '--out', exportFile]);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^tenant acme exported to .*: version T\d{4}_\w+, \d+ bytes, sha256 [0-9a-f]{64}$/m);
    const text = (await readFile(exportFile)).subarray(0, 2000).toString('latin1');
    expect(text.startsWith('STRATA-TENANT-EXPORT 1\n')).to.equal(true);
    const manifest = JSON.parse(text.split('\n')[1]!);
    expect(manifest.tenant).to.include({ id: acme.id, code: 'acme', schemaName: 't_acme', status: 'ACTIVE' });
    expect((await stat(exportFile)).mode & 0o777).to.equal(0o600);
    expect(text).not.to.contain(acme.agentToken);
  });

  it('export refuses to overwrite without --force', async () => {
    const result = await runStrata(source, ['tenant', 'export', '--tenant', 'acme', '--out', exportFile]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('exists; choose another file or pass --force');
  });

  it('import under the same code keeps the tenant id', async () => {
    const result = await runStrata(target, ['tenant', 'import', '--file', exportFile]);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^tenant acme imported: schema t_acme, version T\d{4}_\w+, \d+ rows in \d+ tables, status active$/m);
    const token = tokenIn(result.stdout);
    expect(await scanVia(target, token)).to.deep.equal({ status: 200, fileCount: 3 });
    expect(await fileRows(target, 't_acme', scanGuid)).to.deep.equal(await fileRows(source, 't_acme', scanGuid));

    const { rows } = await target.services.pool.query("SELECT id FROM control.tenant WHERE code = 'acme'");
    expect(rows[0].id).to.equal(acme.id);
  });

  it('import under a new code rewrites the tenant id', async () => {
    const result = await runStrata(source, ['tenant', 'import', '--file', exportFile, '--code', 'acme_copy', '--name', 'Acme copy']);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('tenant acme_copy (exported as acme) imported: schema t_acme_copy');
    const token = tokenIn(result.stdout);

    const { rows } = await source.services.pool.query("SELECT id, name FROM control.tenant WHERE code = 'acme_copy'");
    const copyId = rows[0].id;
    expect(copyId).not.to.equal(acme.id);
    expect(rows[0].name).to.equal('Acme copy');

    for (const table of ['scan', 'ingest_chunk', 'dir', 'file']) {
      const ids = await source.services.pool.query(`SELECT DISTINCT tenant_id FROM t_acme_copy.${table}`);
      expect(ids.rows.map((row) => row.tenant_id), table).to.deep.equal([copyId]);
    }
    expect(await scanVia(source, token)).to.deep.equal({ status: 200, fileCount: 3 });
    expect(await scanVia(source, acme.agentToken)).to.deep.equal({ status: 200, fileCount: 3 });
    expect(await fileRows(source, 't_acme_copy', scanGuid)).to.deep.equal(await fileRows(source, 't_acme', scanGuid));

    const drift = await checkTenantDrift(source.services.pool, source.services.orm, source.services.log, { concurrency: 2 });
    expect(drift.outcomes.map((outcome) => `${outcome.code}: ${outcome.differences.length}`).sort()).to.deep.equal(['acme: 0', 'acme_copy: 0']);
  });

  it('import onto an existing tenant is rejected', async () => {
    const result = await runStrata(source, ['tenant', 'import', '--file', exportFile]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('tenant acme (schema t_acme) already exists here; import under another code with --code');
  });

  it('import of a damaged file is rejected', async () => {
    const bytes = await readFile(exportFile);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    const damaged = path.join(workDir, 'damaged.export');
    await writeFile(damaged, bytes);

    const result = await runStrata(target, ['tenant', 'import', '--file', damaged, '--code', 'damaged']);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain("the archive's SHA-256 does not match its manifest");
    const { rows } = await target.services.pool.query("SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 't_damaged'");
    expect(rows[0].n).to.equal(0);
  });

  it('records export and import in the audit trail', async () => {
    const exported = await source.services.pool.query("SELECT tenant_id, details FROM control.audit_event WHERE action = 'tenant.exported'");
    expect(exported.rows).to.have.length(1);
    expect(exported.rows[0].tenant_id).to.equal(acme.id);

    const imported = await source.services.pool.query("SELECT tenant_code, details FROM control.audit_event WHERE action = 'tenant.imported'");
    expect(imported.rows.map((row) => [row.tenant_code, row.details.fromCode, row.details.fromTenantId])).to.deep.equal([['acme_copy', 'acme', acme.id]]);
  });
});
