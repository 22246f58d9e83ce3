import { expect } from 'chai';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { createReconcileRun, reconcileRun, type RunSummary } from '../../src/sanitize/reconcile.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { inventoryShare, scanShare, setTierObject, YEAR, type ScanFile } from './fixtures.ts';

const NFC = 'caf\u00e9.txt';
const NFD = 'cafe\u0301.txt';

describe('sanitize reconciliation', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  const now = Math.floor(Date.now() / 1000);
  const cold = now - 2 * YEAR;
  let first: RunSummary;

  const files: ScanFile[] = [
    ['ok.doc', 10],
    ['missing.doc', 20],
    ['size.doc', 30],
    ['planned.doc', 40],
    ['failed.doc', 50],
    ['stale.doc', 60],
    ['gone.doc', 70],
    ['stubgone.doc', 80],
    [NFC, 90],
    ['late.doc', 100],
    ['a b.txt', 1],
    ['a+b.txt', 2],
    ['100%.csv', 3],
  ].map(([name, size]) => ({ dir: '/srv/p', name: name as string, size: size as number, used: cold }));

  async function reconcile(): Promise<RunSummary> {
    const runId = await createReconcileRun(stack.services.pool, tenant, { share: 'projects', staleAfterSeconds: YEAR, requestedBy: 'test' });
    return reconcileRun(stack.services.pool, tenant, runId, stack.services.log);
  }

  before(async () => {
    stack = await startStack('sanitize_reconcile');
    tenant = await createTenant(stack, 'acme');

    await scanShare(stack, tenant.agentToken, 'projects', files);
    await planColdFiles(stack.services.pool, tenant, { share: 'projects', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

    const before = now - 100;
    for (const name of ['ok.doc', 'missing.doc', 'size.doc', 'stubgone.doc', NFC, 'a b.txt', 'a+b.txt', '100%.csv']) {
      await setTierObject(stack, 't_acme', name, 'STUBBED', `p/${name}`, before);
    }
    await setTierObject(stack, 't_acme', 'planned.doc', 'PLANNED', 'p/planned.doc', before);
    await setTierObject(stack, 't_acme', 'failed.doc', 'FAILED', 'p/failed.doc', before);
    await setTierObject(stack, 't_acme', 'late.doc', 'STUBBED', 'p/late.doc', now + 3600);

    await inventoryShare(stack, tenant, 'projects', [
      { key: 'p/ok.doc', size: 10 },
      { key: 'p/size.doc', size: 31 },
      { key: 'p/failed.doc', size: 50 },
      { key: 'p/stubgone.doc', size: 80 },
      { key: `p/${NFD}`, size: 90 },
      { key: 'p/a b.txt', size: 1 },
      { key: 'p/a+b.txt', size: 2 },
      { key: 'p/100%.csv', size: 3 },
      { key: 'p/orphan.bin', size: 5 },
      { key: '.strata-quarantine/0/p/old.bin', size: 7 },
    ]);

    const rescan = files
      .filter((file) => file.name !== 'gone.doc' && file.name !== 'stubgone.doc')
      .map((file) => (file.name === 'stale.doc' ? { ...file, used: now - 60 } : file));
    await scanShare(stack, tenant.agentToken, 'projects', rescan);
    first = await reconcile();
  });
  after(async () => stack?.close());

  it('counts each finding kind exactly', () => {
    expect(first.totals.MISSING).to.deep.equal({ findings: 2, bytes: 110 });
    expect(first.totals.ORPHAN).to.deep.equal({ findings: 3, bytes: 145 });
    expect(first.totals.STALE).to.deep.equal({ findings: 1, bytes: 60 });
    expect(first.totals.BROKEN_REF).to.deep.equal({ findings: 2, bytes: 150 });
    expect(first.totals.SIZE_MISMATCH).to.deep.equal({ findings: 1, bytes: 30 });
  });

  it('names the findings', async () => {
    const { rows } = await stack.services.pool.query(
      'SELECT kind, coalesce(full_path, object_key) AS what FROM t_acme.sanitize_finding WHERE run_id = $1 ORDER BY kind, what',
      [first.runId],
    );
    expect(rows.map((row) => `${row.kind} ${row.what}`)).to.deep.equal([
      'BROKEN_REF /srv/p/gone.doc',
      'BROKEN_REF /srv/p/stubgone.doc',
      `MISSING /srv/p/${NFC}`,
      'MISSING /srv/p/missing.doc',
      `ORPHAN p/${NFD}`,
      'ORPHAN p/failed.doc',
      'ORPHAN p/orphan.bin',
      'SIZE_MISMATCH /srv/p/size.doc',
      'STALE /srv/p/stale.doc',
    ]);
  });

  it('reports no delta on the first run', () => {
    expect(first.previousRunId).to.equal(null);
    expect(first.delta.MISSING).to.deep.equal({ findings: 0, bytes: 0 });
  });

  it('reports the delta since the previous run', async () => {
    await stack.services.pool.query("UPDATE t_acme.tier_object SET state = 'LOST' WHERE name = 'missing.doc'");
    const second = await reconcile();

    expect(second.previousRunId).to.equal(first.runId);
    expect(second.totals.MISSING).to.deep.equal({ findings: 1, bytes: 90 });
    expect(second.delta.MISSING).to.deep.equal({ findings: -1, bytes: -20 });
    expect(second.delta.ORPHAN).to.deep.equal({ findings: 0, bytes: 0 });
  });

  it('takes the stale threshold from the share policy', async () => {
    await stack.services.pool.query(
      "INSERT INTO t_acme.tier_policy (tenant_id, share_name, min_age_seconds, updated_by) VALUES ($1, 'projects', 30, 'test')",
      [tenant.id],
    );
    const withPolicy = await reconcile();
    await stack.services.pool.query("DELETE FROM t_acme.tier_policy WHERE share_name = 'projects'");

    expect(withPolicy.totals.STALE.findings).to.equal(0);
    expect((await reconcile()).totals.STALE.findings).to.equal(1);
  });

  it('leaves a DONE run unchanged when run again', async () => {
    const again = await reconcileRun(stack.services.pool, tenant, first.runId, stack.services.log);
    expect(again.totals).to.deep.equal(first.totals);
    const { rows } = await stack.services.pool.query('SELECT count(*)::int AS n FROM t_acme.sanitize_finding WHERE run_id = $1', [first.runId]);
    expect(rows[0].n).to.equal(9);
  });

  it('refuses an empty inventory of a share with stubs', async () => {
    const failure = await inventoryShare(stack, tenant, 'projects', []).catch((error: unknown) => error as { code?: string; message: string });

    expect(failure).to.have.property('code', 'INVENTORY_EMPTY');
    expect(failure?.message).to.match(/found no objects, but \d+ of its files are stubs/);
  });
});
