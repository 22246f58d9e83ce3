import { expect } from 'chai';
import { checkTenantDrift, type DriftReport } from '../../src/tenancy/checkTenantDrift.ts';
import { migrateTenants } from '../../src/tenancy/migrateTenants.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { TENANT_MIGRATIONS } from '../../tenant-template/index.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('tenant schema drift check', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('drift', { api: false, workers: false });
    await createTenant(stack, 'fresh');
    await createTenant(stack, 'tampered');
  });
  after(async () => stack?.close());

  function check(tenants?: string[]): Promise<DriftReport> {
    return checkTenantDrift(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 2, tenants });
  }

  function objectsOf(report: DriftReport, code: string): string[] {
    return report.outcomes.find((outcome) => outcome.code === code)!.differences.map((difference) => `${difference.kind} ${difference.object}`);
  }

  it('finds no drift in provisioned tenants', async () => {
    const report = await check();

    expect(report.failed).to.equal(0);
    expect(objectsOf(report, 'fresh')).to.deep.equal([]);
    expect(objectsOf(report, 'tampered')).to.deep.equal([]);
  });

  it('finds no drift after upgrading an old schema', async () => {
    await provisionTenant({ ...stack.services, migrations: TENANT_MIGRATIONS.slice(0, 1) }, { code: 'upgraded', name: 'Upgraded' });
    const before = await check(['upgraded']);
    expect(objectsOf(before, 'upgraded')).to.include('missing migration T0002_dir_hash');

    const migrated = await migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 1, tenants: ['upgraded'] });
    expect(migrated.failed).to.equal(0);
    expect(objectsOf(await check(['upgraded']), 'upgraded')).to.deep.equal([]);
  });

  it('lists each kind of change', async () => {
    const db = stack.services.pool;
    await db.query('ALTER TABLE t_tampered.dir ADD COLUMN note text');
    await db.query('ALTER TABLE t_tampered.scan NO FORCE ROW LEVEL SECURITY');
    await db.query('DROP POLICY tenant_isolation ON t_tampered.tier_object');
    await db.query('GRANT DELETE ON t_tampered.scan TO strata_api');
    await db.query('ALTER TABLE t_tampered.scan ALTER COLUMN agent_host SET NOT NULL');
    await db.query("ALTER TABLE t_tampered.scan ALTER COLUMN status SET DEFAULT 'OK'");
    await db.query('ALTER TABLE t_tampered.tier_object ALTER COLUMN planned_by TYPE varchar(80)');
    await db.query('DROP INDEX t_tampered.tier_object_state');
    await db.query('ALTER TABLE t_tampered.scan DROP CONSTRAINT scan_share_name_check');
    await db.query('ALTER TABLE t_tampered.audit_log OWNER TO strata_api');
    await db.query("UPDATE control.tenant SET schema_version = 'T0001_initial' WHERE code = 'tampered'");

    const report = await check(['tampered']);
    const objects = objectsOf(report, 'tampered');

    expect(objects).to.include('unexpected column dir.note');
    expect(objects).to.include('changed relation scan');
    expect(objects).to.include('missing policy tier_object.tenant_isolation');
    expect(objects).to.include('changed grant scan to strata_api');
    expect(objects).to.include('changed column scan.agent_host');
    expect(objects).to.include('changed column scan.status');
    expect(objects).to.include('changed column tier_object.planned_by');
    expect(objects).to.include('missing index tier_object_state');
    expect(objects).to.include('missing constraint scan.scan_share_name_check');
    expect(objects).to.include('changed relation audit_log');
    expect(objects).to.include('changed registry schema_version');

    const rls = report.outcomes[0]!.differences.find((difference) => difference.object === 'relation scan')!;
    expect(rls.expected).to.contain('force rls on');
    expect(rls.actual).to.contain('force rls off');
  });
});
