import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type pg from 'pg';
import { loadConfig, ConfigError } from '../../src/config.ts';
import { RUNTIME_ROLES } from '../../src/db/roles.ts';
import { runSelfCheck, type SelfCheckOptions, type SelfCheckReport } from '../../src/db/selfCheck/selfCheck.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { createTestLogin, type TestLogin } from '../support/loginRole.ts';
import { runStrata, startStrata } from '../support/strataProcess.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

/** Return a role name unique to this run, because roles are cluster-wide and other suites run at the same time. */
function throwawayRole(label: string): string {
  return `strata_t_${label}_${randomBytes(3).toString('hex')}`;
}

describe('database self-check', () => {
  let stack: Stack;
  let login: TestLogin;
  let acme: ProvisionedTenant;

  before(async () => {
    stack = await startStack('self_check', { api: false, workers: false });
    acme = await createTenant(stack, 'acme');
    await createTenant(stack, 'globex');
    login = await createTestLogin(stack, 'selfcheck');
  });
  after(async () => {
    await stack?.close();
    await login?.drop();
  });

  /**
   * Break something inside a transaction, run the self-check on that transaction's
   * connection, and roll everything back. Role changes are transactional in
   * PostgreSQL too, so nothing outlives the test.
   */
  async function checkBroken(breakIt: (client: pg.PoolClient) => Promise<unknown>, options: SelfCheckOptions = {}): Promise<SelfCheckReport> {
    const client = await stack.services.pool.connect();
    try {
      await client.query('BEGIN');
      await breakIt(client);
      return await runSelfCheck(client, { login: login.role, ...options });
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  function findings(report: SelfCheckReport): string[] {
    return report.problems.map((problem) => `${problem.check} ${problem.subject}`);
  }

  describe('on a healthy database', () => {
    it('finds nothing for the runtime login', async () => {
      const report = await runSelfCheck(stack.services.pool, { login: login.role });
      expect(report.problems).to.deep.equal([]);
      expect(report.tenantSchemas).to.equal(2);
    });

    it('rejects the superuser login the tests connect as', async () => {
      const report = await runSelfCheck(stack.services.pool);
      expect(report.loginIsSuperuser).to.equal(true);
      expect(findings(report)).to.include('superuser role postgres');
    });

    it('turns superuser findings into warnings with the override', async () => {
      const report = await runSelfCheck(stack.services.pool, { allowPrivilegedLogin: true });
      expect(report.problems).to.deep.equal([]);
      expect(report.waived.map((problem) => problem.check)).to.include('superuser');
    });
  });

  describe('roles', () => {
    it('rejects a BYPASSRLS login', async () => {
      const role = throwawayRole('bypass');
      const report = await checkBroken(async (client) => {
        await client.query(`CREATE ROLE ${role} LOGIN NOINHERIT BYPASSRLS IN ROLE ${RUNTIME_ROLES.join(', ')}`);
      }, { login: role });
      expect(findings(report)).to.deep.equal([`bypassrls role ${role}`]);
    });

    it('does not let the override hide a broken function role', async () => {
      const role = throwawayRole('fnbypass');
      const report = await checkBroken(async (client) => {
        await client.query(`CREATE ROLE ${role} NOLOGIN BYPASSRLS`);
      }, { runtimeRoles: [...RUNTIME_ROLES, role], allowPrivilegedLogin: true });
      expect(findings(report)).to.deep.equal([`bypassrls role ${role}`]);
    });

    it('rejects a login that can SET ROLE to strata_owner', async () => {
      const report = await checkBroken((client) => client.query(`GRANT strata_owner TO ${login.role}`));
      expect(findings(report)).to.deep.equal([`owns-tenant-objects role ${login.role}`]);
      expect(report.problems[0]!.message).to.contain('is a member of strata_owner');
    });

    it('rejects a login that can SET ROLE to a superuser', async () => {
      const role = throwawayRole('super');
      const report = await checkBroken(async (client) => {
        await client.query(`CREATE ROLE ${role} NOLOGIN SUPERUSER`);
        await client.query(`GRANT ${role} TO ${login.role}`);
      });
      expect(findings(report)).to.deep.equal([`member-of-privileged-role role ${login.role}`]);
    });

    it('rejects a login that can read server files', async () => {
      const report = await checkBroken((client) => client.query(`GRANT pg_read_server_files TO ${login.role}`));
      expect(findings(report)).to.deep.equal([`member-of-privileged-role role ${login.role}`]);
      expect(report.problems[0]!.message).to.contain('pg_read_server_files');
    });

    it('rejects a login with CREATEROLE', async () => {
      const report = await checkBroken((client) => client.query(`ALTER ROLE ${login.role} CREATEROLE`));
      expect(findings(report)).to.deep.equal([`createrole role ${login.role}`]);
    });

    it('rejects a login that inherits the function roles', async () => {
      const report = await checkBroken(async (client) => {
        // PostgreSQL 16 made inheritance a property of each membership; 15 has only the role's.
        const version = Number((await client.query("SELECT current_setting('server_version_num') AS v")).rows[0].v);
        if (version < 160000) return client.query(`ALTER ROLE ${login.role} INHERIT`);
        for (const role of RUNTIME_ROLES) await client.query(`GRANT ${role} TO ${login.role} WITH INHERIT TRUE`);
      });
      expect(findings(report)).to.have.length(RUNTIME_ROLES.length);
      expect(new Set(report.problems.map((problem) => problem.check))).to.deep.equal(new Set(['inherits-function-role']));
    });

    it('rejects a login that cannot SET ROLE to a function role', async () => {
      const report = await checkBroken((client) => client.query(`REVOKE strata_report FROM ${login.role}`));
      expect(findings(report)).to.deep.equal([`cannot-set-role role ${login.role}`]);
    });

    it('rejects a function role that owns a tenant table', async () => {
      const role = throwawayRole('fnowner');
      const report = await checkBroken(async (client) => {
        await client.query(`CREATE ROLE ${role} NOLOGIN`);
        await client.query(`GRANT ${role} TO ${login.role}`);
        await client.query(`ALTER TABLE t_acme.audit_log OWNER TO ${role}`);
      }, { runtimeRoles: [...RUNTIME_ROLES, role] });
      // The login, which can SET ROLE to the new owner, is reported as well.
      expect(findings(report)).to.have.members([
        `owns-tenant-objects role ${role}`,
        `owns-tenant-objects role ${login.role}`,
        'table-owner table t_acme.audit_log',
      ]);
    });
  });

  describe('tenant tables', () => {
    it('rejects a table without FORCE ROW LEVEL SECURITY', async () => {
      const report = await checkBroken((client) => client.query('ALTER TABLE t_acme.dir NO FORCE ROW LEVEL SECURITY'));
      expect(findings(report)).to.deep.equal(['rls-not-forced table t_acme.dir']);
    });

    it('rejects a table with row-level security disabled', async () => {
      const report = await checkBroken((client) => client.query('ALTER TABLE t_acme.scan DISABLE ROW LEVEL SECURITY'));
      expect(findings(report)).to.deep.equal(['rls-disabled table t_acme.scan']);
    });

    it('rejects a table without the tenant policy', async () => {
      const report = await checkBroken((client) => client.query('DROP POLICY tenant_isolation ON t_acme.tier_object'));
      expect(findings(report)).to.deep.equal(['policy-missing table t_acme.tier_object']);
    });

    it('rejects a permissive policy where empty means all', async () => {
      const report = await checkBroken((client) =>
        client.query(`
          CREATE POLICY empty_means_all ON t_acme.scan
            USING (coalesce(current_setting('app.tenant_id', true), '') = '' OR tenant_id = current_setting('app.tenant_id')::uuid)`),
      );
      expect(findings(report)).to.deep.equal(['policy-predicate table t_acme.scan']);
    });

    it('accepts the per-row tenant predicate too', async () => {
      const report = await checkBroken((client) =>
        client.query(`ALTER POLICY tenant_isolation ON t_acme.dir
          USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
          WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`),
      );
      expect(report.problems).to.deep.equal([]);
    });

    it('rejects a subquery that lets more through', async () => {
      const report = await checkBroken((client) =>
        client.query(`ALTER POLICY tenant_isolation ON t_acme.dir
          USING (tenant_id = (SELECT coalesce(nullif(current_setting('app.tenant_id', true), '')::uuid, tenant_id)))`),
      );
      expect(findings(report)).to.deep.equal(['policy-predicate table t_acme.dir']);
    });

    it('tables read the tenant once per query', async () => {
      const { rows } = await stack.services.pool.query<{ table: string; qual: string }>(
        `SELECT p.tablename AS table, p.qual FROM pg_policies p JOIN pg_class c ON c.relname = p.tablename
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = p.schemaname
          WHERE p.schemaname = 't_acme' AND p.policyname = 'tenant_isolation' AND NOT c.relispartition`,
      );
      expect(rows.length).to.be.greaterThan(10);
      for (const row of rows) expect(row.qual, row.table).to.contain('SELECT');
    });

    it('accepts a restrictive policy, which can only narrow', async () => {
      const report = await checkBroken((client) => client.query('CREATE POLICY recent ON t_acme.scan AS RESTRICTIVE USING (started_at > 0)'));
      expect(report.problems).to.deep.equal([]);
    });

    it('rejects a table owned by a role that may not own tenant tables', async () => {
      const report = await checkBroken(async (client) => {
        await client.query('CREATE TABLE t_acme.side_notes (tenant_id uuid NOT NULL, note text)');
      });
      expect(findings(report)).to.deep.equal(['table-owner table t_acme.side_notes']);
    });

    it('rejects a grant on the migration ledger', async () => {
      const report = await checkBroken((client) => client.query('GRANT SELECT ON t_acme.mikro_orm_migrations TO strata_api'));
      expect(findings(report)).to.deep.equal(['ledger-granted table t_acme.mikro_orm_migrations']);
    });

    it('rejects a materialized view, which RLS does not cover', async () => {
      const report = await checkBroken(async (client) => {
        await client.query('SET LOCAL ROLE strata_owner');
        await client.query('CREATE MATERIALIZED VIEW t_acme.scan_copy AS SELECT * FROM t_acme.scan');
        await client.query('RESET ROLE');
      });
      expect(findings(report)).to.deep.equal(['relation-without-rls materialized view t_acme.scan_copy']);
    });
  });

  describe('stager-owned tables', () => {
    /** Create a `file` table in the new layout: partitioned by scan, owned by the stager, RLS enabled but not forced. */
    async function createStagerTable(client: pg.PoolClient, options: { tenantCheck: boolean }): Promise<void> {
      await client.query(`CREATE TABLE t_acme.file_v2 (
          tenant_id uuid NOT NULL DEFAULT nullif(current_setting('app.tenant_id', true), '')::uuid,
          scan_id bigint NOT NULL, dir_hash bigint NOT NULL, name text NOT NULL
        ) PARTITION BY LIST (scan_id)`);
      await client.query(`CREATE TABLE t_acme.file_v2_s1 PARTITION OF t_acme.file_v2 FOR VALUES IN (1)`);
      if (options.tenantCheck) {
        await client.query(`ALTER TABLE t_acme.file_v2_s1 ADD CONSTRAINT tenant_is_owner CHECK (tenant_id = '${acme.id}')`);
      }
      await client.query('ALTER TABLE t_acme.file_v2 ENABLE ROW LEVEL SECURITY');
      await client.query(`CREATE POLICY tenant_isolation ON t_acme.file_v2
          USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`);
      await client.query('ALTER TABLE t_acme.file_v2 OWNER TO strata_stager');
      await client.query('ALTER TABLE t_acme.file_v2_s1 OWNER TO strata_stager');
      await client.query('GRANT SELECT ON t_acme.file_v2 TO strata_planner');
    }

    it('accepts RLS without FORCE, the policy and a tenant CHECK per partition', async () => {
      const report = await checkBroken((client) => createStagerTable(client, { tenantCheck: true }));
      expect(report.problems).to.deep.equal([]);
    });

    it('rejects a stager table without a tenant CHECK', async () => {
      const report = await checkBroken((client) => createStagerTable(client, { tenantCheck: false }));
      expect(findings(report)).to.deep.equal(['stager-table-without-tenant-check table t_acme.file_v2_s1']);
    });

    it('rejects a partition granted directly without its own RLS', async () => {
      const report = await checkBroken(async (client) => {
        await createStagerTable(client, { tenantCheck: true });
        await client.query('GRANT SELECT ON t_acme.file_v2_s1 TO strata_planner');
      });
      expect(findings(report)).to.deep.equal(['rls-disabled table t_acme.file_v2_s1', 'policy-missing table t_acme.file_v2_s1']);
    });
  });

  describe('schemas, views and functions', () => {
    it('rejects a view that runs with its owner privileges', async () => {
      const report = await checkBroken(async (client) => {
        await client.query('SET LOCAL ROLE strata_owner');
        await client.query('CREATE VIEW t_acme.all_scans AS SELECT * FROM t_acme.scan');
        await client.query('ALTER VIEW t_acme.report_tiering_state SET (security_invoker = false)');
        await client.query('RESET ROLE');
      });
      expect(findings(report)).to.deep.equal([
        'view-not-security-invoker view t_acme.all_scans',
        'view-not-security-invoker view t_acme.report_tiering_state',
      ]);
    });

    it('rejects a SECURITY DEFINER function without a pinned search_path', async () => {
      const report = await checkBroken(async (client) => {
        await client.query('CREATE FUNCTION public.count_scans() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$ SELECT count(*) FROM t_acme.scan $$');
        await client.query('ALTER FUNCTION public.count_scans() OWNER TO strata_owner');
      });
      expect(findings(report)).to.deep.equal(['definer-search-path function public.count_scans()']);
    });

    it('rejects a pinned search_path without pg_temp last', async () => {
      const report = await checkBroken(async (client) => {
        await client.query(`CREATE FUNCTION public.count_scans() RETURNS bigint LANGUAGE sql SECURITY DEFINER
            SET search_path = t_acme AS $$ SELECT count(*) FROM scan $$`);
        await client.query('ALTER FUNCTION public.count_scans() OWNER TO strata_owner');
      });
      expect(findings(report)).to.deep.equal(['definer-search-path function public.count_scans()']);
      expect(report.problems[0]!.message).to.contain('pg_temp');
    });

    it('rejects a SECURITY DEFINER function owned by a superuser', async () => {
      const report = await checkBroken((client) =>
        client.query(`CREATE FUNCTION public.count_scans() RETURNS bigint LANGUAGE sql SECURITY DEFINER
            SET search_path = t_acme, pg_temp AS $$ SELECT count(*) FROM scan $$`),
      );
      expect(findings(report)).to.deep.equal(['definer-owner-bypasses-rls function public.count_scans()']);
    });

    it('rejects CREATE or PUBLIC USAGE on a tenant schema, and another owner', async () => {
      const report = await checkBroken(async (client) => {
        await client.query('GRANT CREATE ON SCHEMA t_acme TO strata_api');
        await client.query('GRANT USAGE ON SCHEMA t_acme TO PUBLIC');
        await client.query('ALTER SCHEMA t_acme OWNER TO strata_stager');
      });
      expect(findings(report)).to.have.members([
        'schema-owner schema t_acme',
        'schema-create-granted schema t_acme',
        'schema-usage-public schema t_acme',
      ]);
    });

    it("rejects a reporting login with another tenant's schema or a membership", async () => {
      const report = await checkBroken(async (client) => {
        await client.query('CREATE ROLE strata_report_zz_selfcheck LOGIN');
        await client.query('GRANT USAGE ON SCHEMA t_acme TO strata_report_zz_selfcheck');
        await client.query('GRANT strata_api TO strata_report_zz_selfcheck');
      });
      expect(findings(report)).to.have.members([
        'report-login-member reporting login strata_report_zz_selfcheck',
        'report-login-foreign-schema reporting login strata_report_zz_selfcheck',
      ]);
    });
  });

  describe('strata api, worker and doctor', () => {
    it('refuses to start the API on a superuser login', async () => {
      const result = await runStrata(['api'], { DATABASE_URL: stack.db.url, STRATA_HTTP_HOST: '127.0.0.1', STRATA_HTTP_PORT: '0' });
      expect(result.code).to.equal(1);
      expect(result.stderr).to.contain('refusing to start');
      expect(result.stderr).to.contain('role postgres: is a superuser');
    });

    it('starts the API on a superuser login with the override, warning', async () => {
      const api = await startStrata(['api'], 'API listening', {
        DATABASE_URL: stack.db.url,
        STRATA_HTTP_HOST: '127.0.0.1',
        STRATA_HTTP_PORT: '0',
        STRATA_ALLOW_SUPERUSER: '1',
      });
      const output = await api.stop();
      expect(output).to.contain('STRATA_ALLOW_SUPERUSER is set');
    });

    it('starts the worker on the runtime login', async () => {
      const worker = await startStrata(['worker'], 'worker started', { DATABASE_URL: login.url });
      const output = await worker.stop();
      expect(output).to.contain('database self-check passed');
    });

    it('refuses the worker and fails doctor when a table lost FORCE', async () => {
      await stack.services.pool.query('ALTER TABLE t_globex.dir NO FORCE ROW LEVEL SECURITY');
      try {
        const worker = await runStrata(['worker'], { DATABASE_URL: login.url });
        expect(worker.code).to.equal(1);
        expect(worker.stderr).to.contain('table t_globex.dir: does not force row-level security');

        const doctor = await runStrata(['doctor'], { DATABASE_URL: login.url });
        expect(doctor.code).to.equal(1);
        expect(doctor.stdout).to.contain('1 problem(s)');
      } finally {
        await stack.services.pool.query('ALTER TABLE t_globex.dir FORCE ROW LEVEL SECURITY');
      }
    });

    it('passes doctor on the runtime login', async () => {
      const doctor = await runStrata(['doctor'], { DATABASE_URL: login.url });
      expect(doctor.stdout).to.contain('ok: no way around tenant isolation found');
      expect(doctor.code).to.equal(0);
    });

    it('rejects the override when NODE_ENV is production', () => {
      expect(() => loadConfig({ NODE_ENV: 'production', STRATA_ALLOW_SUPERUSER: '1' })).to.throw(ConfigError, /STRATA_ALLOW_SUPERUSER/);
    });
  });
});
