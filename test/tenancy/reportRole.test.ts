import { expect } from 'chai';
import pg from 'pg';
import { SqlState } from '../../src/db/sqlstate.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { dropReportRole, setUpReportRole } from '../../src/tenancy/reportRole.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, waitForScan } from '../support/http.ts';
import { createReportLogin, uniqueCode, urlFor, type TestLogin } from '../support/loginRole.ts';
import { runStrata } from '../support/strataProcess.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const DAY = 86_400;

describe('tenant reporting login', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  let globex: ProvisionedTenant;
  let report: TestLogin;
  /** A client connected as acme's reporting login with plain user and password. */
  let bi: pg.Client;

  /** Ingest one scan of `rows` (name and age in days) for `tenant` through the API. */
  async function ingest(tenant: ProvisionedTenant, rows: [string, number][]): Promise<void> {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName: 'finance' }) });
    const guid = opened.body.scanGuid as string;
    const now = Math.floor(Date.now() / 1000);
    const csv = rows.map(([name, days]) => `"D:\\reports","${name}",100,${now - days * DAY},${now - days * DAY},${now - days * DAY}`).join('\n');

    expect((await putChunk(stack.api!.url, tenant.agentToken, guid, 0, `${HEADER}${csv}\n`)).status).to.equal(200);
    const completed = await call(stack.api!.url, 'POST', `/v1/scans/${guid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: rows.length, unreadableCount: 0 },
    });
    expect(completed.status).to.equal(200);
    expect((await waitForScan(stack.api!.url, tenant.agentToken, guid)).status).to.equal('OK');
  }

  before(async () => {
    stack = await startStack('report_role');
    acme = await createTenant(stack, uniqueCode('acme'));
    globex = await createTenant(stack, uniqueCode('globex'));
    await ingest(acme, [['new.txt', 3], ['old.txt', 800], ['ancient.txt', 3000]]);
    await ingest(globex, [['globex-only.txt', 900]]);
    await planColdFiles(stack.services.pool, acme, { olderThanSeconds: 365 * DAY, plannedBy: 'test', apply: true });
    await planColdFiles(stack.services.pool, globex, { olderThanSeconds: 365 * DAY, plannedBy: 'test', apply: true });

    report = await createReportLogin(stack, acme);
    bi = new pg.Client({ connectionString: report.url });
    await bi.connect();
  });
  after(async () => {
    await bi?.end();
    await stack?.close();
    await report?.drop();
  });

  async function attempt(sql: string): Promise<{ rows?: Record<string, unknown>[]; code?: string }> {
    try {
      return { rows: (await bi.query(sql)).rows };
    } catch (error) {
      return { code: (error as { code?: string }).code };
    }
  }

  describe('reading', () => {
    it('starts with its tenant schema and id', async () => {
      const { rows } = await bi.query("SELECT current_setting('search_path') AS path, current_setting('app.tenant_id') AS tenant");
      expect(rows[0]).to.deep.equal({ path: acme.schemaName, tenant: acme.id });
    });

    it("lists the tenant's latest files", async () => {
      const { rows } = await bi.query('SELECT share_name, dir_path, name, size_bytes::int FROM report_latest_files ORDER BY name');
      expect(rows).to.deep.equal([
        { share_name: 'finance', dir_path: 'D:\\reports', name: 'ancient.txt', size_bytes: 100 },
        { share_name: 'finance', dir_path: 'D:\\reports', name: 'new.txt', size_bytes: 100 },
        { share_name: 'finance', dir_path: 'D:\\reports', name: 'old.txt', size_bytes: 100 },
      ]);
    });

    it('counts files per age bucket', async () => {
      const { rows } = await bi.query('SELECT label, files::int FROM report_age_histogram WHERE files > 0 ORDER BY bucket');
      expect(rows).to.deep.equal([
        { label: '< 30 days', files: 1 },
        { label: '2-3 years', files: 1 },
        { label: '> 5 years', files: 1 },
      ]);
      const buckets = await bi.query('SELECT count(*)::int AS n FROM report_age_histogram');
      expect(buckets.rows[0].n).to.equal(7);
    });

    it('sums tier objects per state', async () => {
      const { rows } = await bi.query('SELECT share_name, state, objects::int, bytes::int FROM report_tiering_state');
      expect(rows).to.deep.equal([{ share_name: 'finance', state: 'PLANNED', objects: 2, bytes: 200 }]);
    });
  });

  describe('refusing', () => {
    for (const table of ['scan', 'dir', 'file', 'tier_object', 'audit_log', 'mikro_orm_migrations']) {
      it(`cannot read the ${table} table`, async () => {
        expect((await attempt(`SELECT * FROM ${table}`)).code).to.equal(SqlState.insufficientPrivilege);
      });
    }

    it("cannot read another tenant's schema", async () => {
      expect((await attempt(`SELECT * FROM ${globex.schemaName}.report_latest_files`)).code).to.equal(SqlState.insufficientPrivilege);
      expect((await attempt(`SELECT * FROM ${globex.schemaName}.scan`)).code).to.equal(SqlState.insufficientPrivilege);
    });

    it('cannot store another app.tenant_id for itself', async () => {
      const result = await attempt(`ALTER ROLE ${report.role} SET app.tenant_id = '${globex.id}'`);
      expect(result.code).to.equal(SqlState.insufficientPrivilege);
    });

    it('sees zero rows after SET app.tenant_id to another tenant', async () => {
      await bi.query(`SET app.tenant_id = '${globex.id}'`);
      try {
        expect((await attempt('SELECT * FROM report_latest_files')).rows).to.deep.equal([]);
        expect((await attempt('SELECT * FROM report_tiering_state')).rows).to.deep.equal([]);
      } finally {
        await bi.query('RESET app.tenant_id');
      }
      const restored = await bi.query('SELECT count(*)::int AS n FROM report_latest_files');
      expect(restored.rows[0].n).to.equal(3);
    });

    it('sees zero rows with app.tenant_id emptied', async () => {
      await bi.query("SET app.tenant_id = ''");
      try {
        expect((await attempt('SELECT * FROM report_latest_files')).rows).to.deep.equal([]);
      } finally {
        await bi.query('RESET app.tenant_id');
      }
    });

    it('revokes EXECUTE on the report functions from PUBLIC', async () => {
      const { rows } = await stack.services.pool.query(
        `SELECT count(*)::int AS n FROM pg_proc p
          WHERE p.pronamespace = $1::regnamespace AND p.proname LIKE 'report\\_%'
            AND has_function_privilege('public', p.oid, 'EXECUTE')`,
        [acme.schemaName],
      );
      expect(rows[0].n).to.equal(0);
    });
  });

  describe('setting up', () => {
    it('keeps its password and grants when run again', async () => {
      const before = await stack.services.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [report.role]);
      const client = await stack.services.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await setUpReportRole(client, acme, { connectionLimit: 5 });
        await client.query('COMMIT');
        expect(result.created).to.equal(false);
        expect(result.passwordSet).to.equal(false);
        expect(result.objects).to.have.length(6);
      } finally {
        client.release();
      }
      const after = await stack.services.pool.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [report.role]);
      expect(after.rows[0].rolpassword).to.equal(before.rows[0].rolpassword);
      expect(after.rows[0].rolpassword).to.match(/^SCRAM-SHA-256\$4096:/);
    });

    it('creates, prints the password once and drops from the CLI', async () => {
      const code = uniqueCode('cli');
      const tenant = await createTenant(stack, code);

      const role = `strata_report_${code}`;
      try {
        const created = await runStrata(['tenant', 'report-role', '--tenant', code], { DATABASE_URL: stack.db.url });
        expect(created.code, created.stderr).to.equal(0);
        const password = created.stdout.trim().split('\n').at(-1)!;
        expect(password).to.match(/^[A-Za-z0-9_-]{32}$/);

        const client = new pg.Client({ connectionString: urlFor(stack.db.url, role, password) });
        await client.connect();
        try {
          const { rows } = await client.query("SELECT current_setting('app.tenant_id') AS tenant");
          expect(rows[0].tenant).to.equal(tenant.id);
        } finally {
          await client.end();
        }

        const again = await runStrata(['tenant', 'report-role', '--tenant', code], { DATABASE_URL: stack.db.url });
        expect(again.stdout).not.to.contain(password);
        expect(again.stdout).not.to.contain('password (shown once');

        const dropped = await runStrata(['tenant', 'report-role', '--tenant', code, '--drop'], { DATABASE_URL: stack.db.url });
        expect(dropped.stdout).to.contain(`login ${role} dropped`);
        const left = await stack.services.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
        expect(left.rowCount).to.equal(0);
      } finally {
        // Left behind only when a step above failed.
        const left = await stack.services.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
        if (left.rowCount === 1) await stack.services.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
      }
    });

    it('refuses a role of that name that is a member of another role', async () => {
      const client = await stack.services.pool.connect();
      try {
        await client.query('BEGIN');
        const tenant = { ...globex };
        await client.query(`CREATE ROLE strata_report_${tenant.code} LOGIN IN ROLE strata_api`);
        let failure: unknown;
        try {
          await setUpReportRole(client, tenant, { connectionLimit: 5 });
        } catch (error) {
          failure = error;
        }
        expect((failure as Error).message).to.contain('is a member of strata_api');
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    });

    it('drops nothing for a tenant without a login', async () => {
      const client = await stack.services.pool.connect();
      try {
        expect(await dropReportRole(client, globex)).to.equal(false);
      } finally {
        client.release();
      }
    });
  });
});
