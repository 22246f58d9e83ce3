import { expect } from 'chai';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { claim, ingestShare, report, SHA_A } from '../support/acting.ts';
import { runStrata } from '../support/cli.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const YEAR = 365 * 86_400;

describe('acting error-rate stop', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  const old = Math.floor(Date.now() / 1000) - 2 * YEAR;

  before(async () => {
    stack = await startStack('errorrate', {
      env: { STRATA_ACT_FAILURE_MIN_RESULTS: '4', STRATA_ACT_MAX_FAILURE_RATE: '0.5', STRATA_ACT_FAILURE_WINDOW: '10' },
    });
    acme = await createTenant(stack, 'acme');
    const files = Array.from({ length: 10 }, (_, i) => ({ dir: 'D:\\Flaky', name: `f${i}.dat`, size: 10, atime: old }));
    await ingestShare(stack, acme, 'flaky', files);
    await planColdFiles(stack.services.pool, acme, { share: 'flaky', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
  });
  after(async () => stack?.close());

  it('pauses claims when failures exceed the rate', async () => {
    const claimed = (await claim(stack, acme.agentToken, { share: 'flaky', kind: 'tier', max: 6 })).body.actions;
    const results = claimed.slice(0, 5).map((action: any, i: number) =>
      i === 0
        ? { id: action.id, fence: action.fence, outcome: 'STUBBED', sha256: SHA_A }
        : { id: action.id, fence: action.fence, outcome: 'FAILED', error: 'Tier-2 is full' },
    );
    const reported = await report(stack, acme.agentToken, results);
    expect(reported.body.results.every((result: any) => result.accepted)).to.equal(true);

    const rejected = await claim(stack, acme.agentToken, { share: 'flaky', kind: 'tier', max: 6 });
    expect(rejected.status).to.equal(409);
    expect(rejected.body.error.code).to.equal('SHARE_PAUSED');
    expect(rejected.body.error.message).to.match(/4 of the latest 5 results failed/);
  });

  it('still hands out recalls while paused', async () => {
    const recall = await claim(stack, acme.agentToken, { share: 'flaky', kind: 'recall', max: 10 });
    expect(recall.status, JSON.stringify(recall.body)).to.equal(200);
    expect(recall.body.actions).to.have.length(1);

    // A failed recall leaves the stub, so it does not count toward the stop (the status
    // below still shows 4 of 5).
    const [action] = recall.body.actions;
    const reported = await report(stack, acme.agentToken, [{ id: action.id, fence: action.fence, outcome: 'FAILED', error: 'Tier-2 unreachable' }]);
    expect(reported.body.results[0].accepted).to.equal(true);
  });

  it('shows the pause in strata act status', async () => {
    const status = await runStrata(stack, ['act', 'status', '--tenant', 'acme']);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.match(/flaky .*4\/5 .*paused/);
  });

  it('hands out claims again after strata act resume', async () => {
    const resumed = await runStrata(stack, ['act', 'resume', '--tenant', 'acme', '--share', 'flaky']);
    expect(resumed.code, resumed.stderr).to.equal(0);

    const claimed = await claim(stack, acme.agentToken, { share: 'flaky', kind: 'tier', max: 10 });
    expect(claimed.status).to.equal(200);
    expect(claimed.body.actions.length).to.equal(4);

    // The window restarted at the resume, so one new failure does not pause the share again.
    const action = claimed.body.actions[0];
    await report(stack, acme.agentToken, [{ id: action.id, fence: action.fence, outcome: 'FAILED' }]);
    const again = await claim(stack, acme.agentToken, { share: 'flaky', kind: 'tier', max: 10 });
    expect(again.status).to.equal(200);
  });

  it('rejects resuming a share that is not paused', async () => {
    const resumed = await runStrata(stack, ['act', 'resume', '--tenant', 'acme', '--share', 'flaky']);
    expect(resumed.code).to.equal(1);
    expect(resumed.stderr).to.match(/is not paused/);
  });

  it('audits the pause and the resume', async () => {
    const { rows } = await stack.services.pool.query(
      "SELECT action, actor FROM t_acme.audit_log WHERE action LIKE 'acting.%' ORDER BY audit_id",
    );
    expect(rows.map((row) => row.action)).to.deep.equal(['acting.paused', 'acting.resumed']);
    expect(rows[1].actor).to.match(/^cli:/);
  });

  it('prunes results past the retention', async () => {
    await ingestShare(stack, acme, 'history', [{ dir: 'D:\\History', name: 'h.dat', size: 10, atime: old }]);
    await planColdFiles(stack.services.pool, acme, { share: 'history', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    const [action] = (await claim(stack, acme.agentToken, { share: 'history', kind: 'tier', max: 1 })).body.actions;

    // Results of 100 days ago (the default retention is 90), in this share and another.
    const longAgo = Math.floor(Date.now() / 1000) - 100 * 86_400;
    const insertOld = (share: string) =>
      stack.services.pool.query(
        `INSERT INTO t_acme.tier_result_log (tenant_id, tier_id, share_name, fence, kind, outcome, token_id, at_unix)
         SELECT $1, 1, $2, 1, 'tier', 'STUBBED', 'old-token', $3 FROM generate_series(1, 3)`,
        [acme.id, share, longAgo],
      );
    await insertOld('history');
    await insertOld('other');

    const reported = await report(stack, acme.agentToken, [{ id: action.id, fence: action.fence, outcome: 'STUBBED', sha256: SHA_A }]);
    expect(reported.body.results[0].accepted).to.equal(true);

    const { rows } = await stack.services.pool.query(
      "SELECT share_name, count(*)::int AS n FROM t_acme.tier_result_log WHERE share_name IN ('history', 'other') GROUP BY share_name ORDER BY share_name",
    );
    expect(rows).to.deep.equal([
      { share_name: 'history', n: 1 },
      { share_name: 'other', n: 3 },
    ]);
  });
});
