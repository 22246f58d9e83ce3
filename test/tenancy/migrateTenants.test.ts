import { expect } from 'chai';
import { Migration } from '@mikro-orm/migrations';
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
