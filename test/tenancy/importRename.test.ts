import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Migration } from '@mikro-orm/migrations';
import { findTenantByCode } from '../../src/control/tenants.ts';
import { exportTenant } from '../../src/tenancy/exportTenant.ts';
import { importTenant } from '../../src/tenancy/importTenant.ts';
import { findPgTool } from '../../src/tenancy/pgTools.ts';
import { executeRestoreScript, rewriteStatement } from '../../src/tenancy/restoreScript.ts';
import { takeStatements } from '../../src/tenancy/sqlTokens.ts';
import { provisionTenant, type ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { TENANT_MIGRATIONS } from '../../tenant-template/index.ts';
import { skipWithoutPgTools } from '../support/pgTools.ts';
import { startStack, type Stack } from '../support/stack.ts';

/**
 * A stager-owned table partitioned by scan, as the chunk receiver's `file` table is
 * built: RLS enabled but not forced, and one partition per scan made by a SECURITY
 * DEFINER function with a pinned search_path, carrying a CHECK on the tenant's uuid.
 */
class PartitionedByScan extends Migration {
  override async up(): Promise<void> {
    this.addSql(`DO $$ BEGIN EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO strata_stager', current_schema()); END $$`);
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      CREATE TABLE scan_row (
        tenant_id uuid NOT NULL DEFAULT nullif(current_setting('app.tenant_id', true), '')::uuid,
        scan_id bigint NOT NULL,
        name text NOT NULL
      ) PARTITION BY LIST (scan_id)`);
    this.addSql('ALTER TABLE scan_row ENABLE ROW LEVEL SECURITY');
    this.addSql(`CREATE POLICY tenant_isolation ON scan_row USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`);
    this.addSql(`
      DO $outer$ BEGIN
        EXECUTE format($f$
          CREATE FUNCTION open_scan_rows(p_scan bigint) RETURNS void
            LANGUAGE plpgsql SECURITY DEFINER SET search_path = %I, pg_temp AS $body$
          BEGIN
            EXECUTE format('CREATE TABLE %%I PARTITION OF scan_row (CONSTRAINT tenant_only CHECK (tenant_id = %%L)) FOR VALUES IN (%%s)',
                           'scan_row_s' || p_scan, current_setting('app.tenant_id'), p_scan);
          END $body$$f$, current_schema());
      END $outer$`);
    this.addSql('SET LOCAL ROLE strata_owner');
  }
}

describe('tenant import under a new code', () => {
  const migrations = [...TENANT_MIGRATIONS, { name: 'T9100_partitioned_by_scan', class: PartitionedByScan }];
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let workDir: string;

  before(function () {
    skipWithoutPgTools(this);
  });

  before(async () => {
    stack = await startStack('import_rename', { api: false, workers: false });
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-import-test-'));
    tenant = await provisionTenant({ ...stack.services, migrations }, { code: 'parted', name: 'Parted' });

    const client = await stack.services.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenant.id]);
      await client.query('SELECT t_parted.open_scan_rows(1)');
      await client.query("INSERT INTO t_parted.scan_row (scan_id, name) VALUES (1, 'a.txt'), (1, 'b.txt')");
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
  after(async () => {
    await stack?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('renames the schema and tenant in partitions and functions', async () => {
    const file = path.join(workDir, 'parted.export');
    const record = (await findTenantByCode(stack.services.pool, 'parted'))!;
    const databaseUrl = stack.db.url;
    await exportTenant(
      { pool: stack.services.pool, databaseUrl, pgDump: findPgTool('pg_dump', undefined), log: stack.services.log },
      record,
      file,
      { overwrite: false, actor: 'test' },
    );

    const imported = await importTenant(
      { ...stack.services, databaseUrl, pgRestore: findPgTool('pg_restore', undefined), migrations },
      { file, code: 'renamed', actor: 'test' },
    );
    const db = stack.services.pool;

    expect(imported.id).not.to.equal(tenant.id);
    const check = await db.query("SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'tenant_only' AND conrelid = 't_renamed.scan_row_s1'::regclass");
    expect(check.rows[0].def).to.contain(imported.id);
    expect(check.rows[0].def).not.to.contain(tenant.id);

    const rows = await db.query('SELECT tenant_id, name FROM t_renamed.scan_row ORDER BY name');
    expect(rows.rows).to.deep.equal([
      { tenant_id: imported.id, name: 'a.txt' },
      { tenant_id: imported.id, name: 'b.txt' },
    ]);

    const owner = await db.query("SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 't_renamed.scan_row_s1'::regclass");
    expect(owner.rows[0].owner).to.equal('strata_stager');
    const config = await db.query("SELECT proconfig FROM pg_proc WHERE proname = 'open_scan_rows' AND pronamespace = 't_renamed'::regnamespace");
    expect(config.rows[0].proconfig).to.deep.equal(['search_path=t_renamed, pg_temp']);

    // The pinned search_path names the new schema, so the function makes partitions there.
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [imported.id]);
      await client.query('SELECT t_renamed.open_scan_rows(2)');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const partitions = await db.query("SELECT relname FROM pg_class WHERE relnamespace = 't_renamed'::regnamespace AND relname LIKE 'scan_row_s%' ORDER BY relname");
    expect(partitions.rows.map((row) => row.relname)).to.deep.equal(['scan_row_s1', 'scan_row_s2']);

    // The source tenant is untouched.
    const original = await db.query('SELECT DISTINCT tenant_id FROM t_parted.scan_row');
    expect(original.rows).to.deep.equal([{ tenant_id: tenant.id }]);
  });
});

describe('restore script checks', () => {
  let stack: Stack;
  const rename = {
    fromSchema: 't_old',
    toSchema: 't_new',
    fromTenantId: '11111111-1111-4111-8111-111111111111',
    toTenantId: '22222222-2222-4222-8222-222222222222',
  };

  before(async () => {
    stack = await startStack('restore_script', { api: false, workers: false });
  });
  after(async () => stack?.close());

  /** Run a script in a transaction that is always rolled back; return the error message, if any. */
  async function restoreError(script: string): Promise<string | undefined> {
    const client = await stack.services.pool.connect();
    try {
      await client.query('BEGIN');
      await executeRestoreScript(client, toLines(script), rename);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  async function* toLines(script: string): AsyncGenerator<string> {
    yield* script.split('\n');
  }

  it('rewrites names and literals but not bodies', () => {
    const sql = `ALTER TABLE ONLY t_old.x ALTER COLUMN id SET DEFAULT nextval('t_old.x_id_seq'::regclass);
      CREATE FUNCTION "t_old".f() RETURNS text LANGUAGE sql SET search_path TO 't_old', 'pg_temp' AS $$SELECT 't_old.x'$$;
      ALTER TABLE t_old.p ADD CONSTRAINT c CHECK (tenant_id = '11111111-1111-4111-8111-111111111111'::uuid); -- t_old stays in comments
      SELECT 'it''s t_old_2', t_old_2.y FROM t_old_2;`;
    const rewritten = takeStatements(sql).statements.map((tokens) => rewriteStatement(tokens, rename)).join('');

    expect(rewritten).to.contain(`ALTER TABLE ONLY "t_new".x ALTER COLUMN id SET DEFAULT nextval('"t_new".x_id_seq'::regclass);`);
    expect(rewritten).to.contain(`CREATE FUNCTION "t_new".f() RETURNS text LANGUAGE sql SET search_path TO 't_new', 'pg_temp' AS $$SELECT 't_old.x'$$;`);
    expect(rewritten).to.contain(`CHECK (tenant_id = '22222222-2222-4222-8222-222222222222'::uuid);`);
    expect(rewritten).to.contain(`SELECT 'it''s t_old_2', t_old_2.y FROM t_old_2;`);
  });

  it('rejects statements pg_dump does not write for a schema', async () => {
    expect(await restoreError('ALTER ROLE strata_api SUPERUSER;')).to.contain('statement not expected in a tenant export: ALTER ROLE');
    expect(await restoreError('DROP SCHEMA control CASCADE;')).to.contain('statement not expected');
    expect(await restoreError("SELECT pg_catalog.setval('control.seq', 1, true);")).to.contain('setval on a sequence outside the tenant schema');
    expect(await restoreError('\\! rm -rf /')).to.contain('the psql command \\! rm -rf / is not part of a tenant export');
  });

  it('rejects COPY outside the schema or of another tenant', async () => {
    expect(await restoreError('COPY control.tenant (id) FROM stdin;\n\\.')).to.contain('COPY into a table outside the tenant schema');

    const script = [
      'CREATE SCHEMA t_old;',
      'CREATE TABLE t_old.t (tenant_id uuid, name text);',
      'COPY t_old.t (tenant_id, name) FROM stdin;',
      `${rename.fromTenantId}\tmine`,
      `33333333-3333-4333-8333-333333333333\ttheirs`,
      '\\.',
    ].join('\n');
    expect(await restoreError(script)).to.contain("line 5: a row's tenant_id is 33333333-3333-4333-8333-333333333333, not the exported tenant's");
  });

  it('reports COPY data the server rejects', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => `${rename.fromTenantId}\t${i === 5 ? '\\N' : i}`);
    const script = ['CREATE SCHEMA t_old;', 'CREATE TABLE t_old.t (tenant_id uuid, n int NOT NULL);', 'COPY t_old.t (tenant_id, n) FROM stdin;', ...rows, '\\.'].join('\n');

    expect(await restoreError(script)).to.contain('null value in column "n"');
  });

  it('rejects a script cut off mid-statement', async () => {
    expect(await restoreError("CREATE SCHEMA t_old;\nCREATE TABLE t_old.t (name text DEFAULT 'x")).to.contain('the script ends inside a statement');
  });
});
