import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Migration } from '@mikro-orm/migrations';
import { StrataError } from '../../src/errors.ts';
import { holdRunLock } from '../../src/tenancy/migrationRuns.ts';
import { migrateTenants, type TenantMigrationOutcome } from '../../src/tenancy/migrateTenants.ts';
import { TENANT_MIGRATIONS, TENANT_TEMPLATE_VERSION as CURRENT } from '../../tenant-template/index.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

class AddReportColumn extends Migration {
  override async up(): Promise<void> {
    this.addSql('CREATE TABLE report_note (id bigint PRIMARY KEY, note text)');
  }
}

describe('migrateTenants', () => {
  let stack: Stack;
  const nextVersion = [...TENANT_MIGRATIONS, { name: 'T9001_report_note', class: AddReportColumn }];

  before(async () => {
    stack = await startStack('migrate', { api: false, workers: false });
    for (const code of ['alpha', 'bravo', 'charlie']) await createTenant(stack, code);
  });
  after(async () => stack?.close());

  async function versions(): Promise<Record<string, string>> {
    const { rows } = await stack.services.pool.query('SELECT code, schema_version FROM control.tenant ORDER BY code');
    return Object.fromEntries(rows.map((row) => [row.code, row.schema_version]));
  }

  it('dry run lists pending and changes nothing', async () => {
    const report = await migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, {
      concurrency: 2,
      dryRun: true,
      migrations: nextVersion,
    });

    expect(report.failed).to.equal(0);
    expect(report.outcomes.map((outcome) => outcome.migrations)).to.deep.equal([['T9001_report_note'], ['T9001_report_note'], ['T9001_report_note']]);
    expect(await versions()).to.deep.equal({ alpha: CURRENT, bravo: CURRENT, charlie: CURRENT });
  });

  it('reports a failing schema and migrates the others', async () => {
    // bravo already has the table the migration creates, so its migration fails.
    await stack.services.pool.query('CREATE TABLE t_bravo.report_note (id int)');

    const progress: string[] = [];
    const report = await migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, {
      concurrency: 3,
      migrations: nextVersion,
      onResult: (outcome: TenantMigrationOutcome, done, total) => progress.push(`${done}/${total} ${outcome.code} ${outcome.status}`),
    });

    expect(report.failed).to.equal(1);
    const bravo = report.outcomes.find((outcome) => outcome.code === 'bravo')!;
    expect(bravo.status).to.equal('FAILED');
    expect(bravo.error).to.contain('already exists');
    expect(progress).to.have.length(3);
    expect(await versions()).to.deep.equal({ alpha: 'T9001_report_note', bravo: CURRENT, charlie: 'T9001_report_note' });

    const { rows } = await stack.services.pool.query('SELECT schema_name, status FROM control.migration_result WHERE run_id = $1 ORDER BY schema_name', [
      report.runId,
    ]);
    expect(rows).to.deep.equal([
      { schema_name: 't_alpha', status: 'OK' },
      { schema_name: 't_bravo', status: 'FAILED' },
      { schema_name: 't_charlie', status: 'OK' },
    ]);
  });

  it('brings all three to one version once fixed', async () => {
    await stack.services.pool.query('DROP TABLE t_bravo.report_note');
    const report = await migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 3, migrations: nextVersion });

    expect(report.failed).to.equal(0);
    expect(report.outcomes.find((outcome) => outcome.code === 'alpha')!.migrations).to.deep.equal([]);
    expect(await versions()).to.deep.equal({ alpha: 'T9001_report_note', bravo: 'T9001_report_note', charlie: 'T9001_report_note' });

    const { rows } = await stack.services.pool.query("SELECT count(*)::int AS n FROM t_alpha.mikro_orm_migrations WHERE name = 'T9001_report_note'");
    expect(rows[0].n).to.equal(1);
  });

  it('applies each migration once under concurrent runs', async () => {
    const third = [...nextVersion, { name: 'T9002_concurrent', class: class extends Migration {
      override async up(): Promise<void> {
        this.addSql('CREATE TABLE concurrent_marker (id int)');
      }
    } }];
    const run = () => migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 3, migrations: third });
    const [first, second] = await Promise.all([run(), run()]);

    expect(first.failed + second.failed).to.equal(0);
    const { rows } = await stack.services.pool.query("SELECT count(*)::int AS n FROM t_charlie.mikro_orm_migrations WHERE name = 'T9002_concurrent'");
    expect(rows[0].n).to.equal(1);
  });
});

describe('migrateTenants ledger', () => {
  let stack: Stack;
  const codes = ['echo', 'fox', 'golf', 'hotel'];
  const withMarker = [...TENANT_MIGRATIONS, { name: 'T9003_marker', class: class extends Migration {
    override async up(): Promise<void> {
      this.addSql('CREATE TABLE ledger_marker (id int)');
    }
  } }];

  before(async () => {
    stack = await startStack('migrate_ledger', { api: false, workers: false });
    for (const code of codes) await createTenant(stack, code);
  });
  after(async () => stack?.close());

  function migrate(options: Partial<Parameters<typeof migrateTenants>[3]>) {
    return migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 2, migrations: withMarker, ...options });
  }

  async function runRow(runId: string) {
    const { rows } = await stack.services.pool.query(
      'SELECT status, tenants_ok, tenants_failed, tenants_total, tenant_codes, canary FROM control.migration_run WHERE run_id = $1',
      [runId],
    );
    return rows[0];
  }

  async function attempts(runId: string): Promise<Record<string, string>> {
    const { rows } = await stack.services.pool.query(
      `SELECT t.code, r.status, r.attempts FROM control.migration_result r JOIN control.tenant t ON t.id = r.tenant_id
        WHERE r.run_id = $1 ORDER BY t.code`,
      [runId],
    );
    return Object.fromEntries(rows.map((row) => [row.code, `${row.status}x${row.attempts}`]));
  }

  let stoppedRun: string;

  it('canary failure stops the run', async () => {
    await stack.services.pool.query('CREATE TABLE t_fox.ledger_marker (id int)');

    const report = await migrate({ tenants: codes, canary: 2 });

    expect(report.status).to.equal('STOPPED');
    expect(report.outcomes.map((outcome) => `${outcome.code} ${outcome.status}`).sort()).to.deep.equal(['echo OK', 'fox FAILED']);
    expect(report.notAttempted).to.equal(2);
    expect(await runRow(report.runId)).to.deep.equal({
      status: 'STOPPED', tenants_ok: 1, tenants_failed: 1, tenants_total: 4, tenant_codes: codes, canary: 2,
    });
    const { rows } = await stack.services.pool.query("SELECT count(*)::int AS n FROM t_golf.mikro_orm_migrations WHERE name = 'T9003_marker'");
    expect(rows[0].n).to.equal(0);
    stoppedRun = report.runId;
  });

  it('resume dry run lists failed tenants first', async () => {
    const report = await migrate({ resume: 'latest', dryRun: true, concurrency: 1 });

    expect(report.runId).to.equal(stoppedRun);
    expect(report.skipped).to.equal(1);
    expect(report.outcomes.map((outcome) => outcome.code)).to.deep.equal(['fox', 'golf', 'hotel']);
    expect((await runRow(stoppedRun)).status).to.equal('STOPPED');
  });

  it('resume retries failures and skips successes', async () => {
    await stack.services.pool.query('DROP TABLE t_fox.ledger_marker');
    const order: string[] = [];

    const report = await migrate({ resume: stoppedRun, concurrency: 1, onResult: (outcome) => order.push(outcome.code) });

    expect(report.runId).to.equal(stoppedRun);
    expect(report.status).to.equal('DONE');
    expect(report.skipped).to.equal(1);
    expect(order).to.deep.equal(['fox', 'golf', 'hotel']);
    expect(await attempts(stoppedRun)).to.deep.equal({ echo: 'OKx1', fox: 'OKx2', golf: 'OKx1', hotel: 'OKx1' });
    expect(await runRow(stoppedRun)).to.include({ status: 'DONE', tenants_ok: 4, tenants_failed: 0, tenants_total: 4 });
  });

  it('resume of a finished run is rejected', async () => {
    let failure: unknown;
    try {
      await migrate({ resume: 'latest' });
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(StrataError);
    expect((failure as StrataError).code).to.equal('RUN_FINISHED');
  });

  it('abort leaves a stopped run', async () => {
    const controller = new AbortController();
    const report = await migrate({
      migrations: TENANT_MIGRATIONS,
      concurrency: 1,
      signal: controller.signal,
      onResult: () => controller.abort(),
    });

    expect(report.status).to.equal('STOPPED');
    expect(report.outcomes).to.have.length(1);
    expect(report.notAttempted).to.equal(codes.length - 1);
  });

  it('resumes an interrupted run', async () => {
    // A process that died mid-run leaves its run RUNNING with no lock holder.
    const runId = randomUUID();
    await stack.services.pool.query(
      "INSERT INTO control.migration_run (run_id, started_by, tenant_codes) VALUES ($1, 'test', ARRAY['golf', 'hotel'])",
      [runId],
    );

    const report = await migrate({ resume: runId, migrations: TENANT_MIGRATIONS });

    expect(report.status).to.equal('DONE');
    expect(report.outcomes.map((outcome) => outcome.code).sort()).to.deep.equal(['golf', 'hotel']);
    expect((await runRow(runId)).status).to.equal('DONE');
  });

  it('rejects resuming a run held by another process', async () => {
    const runId = randomUUID();
    await stack.services.pool.query("INSERT INTO control.migration_run (run_id, started_by) VALUES ($1, 'test')", [runId]);
    const lock = await holdRunLock(stack.services.pool, runId);

    let failure: unknown;
    try {
      await migrate({ resume: runId });
    } catch (error) {
      failure = error;
    } finally {
      await lock.release();
    }
    expect((failure as StrataError).code).to.equal('RUN_IN_PROGRESS');
  });
});
