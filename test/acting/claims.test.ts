import { expect } from 'chai';
import { setTarget } from '../../src/acting/targets.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { claim, ingestShare, report, SHA_A } from '../support/acting.ts';
import { call } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const DAY = 86_400;
const YEAR = 365 * DAY;

describe('acting claims and results', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  let other: ProvisionedTenant;
  const now = Math.floor(Date.now() / 1000);
  const old = now - 2 * YEAR;

  async function plan(tenant: ProvisionedTenant, share: string): Promise<void> {
    await planColdFiles(stack.services.pool, tenant, { share, olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
  }

  async function state(id: string): Promise<{ state: string; fence: number; result_fence: number | null; sha256: string | null }> {
    const { rows } = await stack.services.pool.query(
      "SELECT state, fence, result_fence, encode(sha256, 'hex') AS sha256 FROM t_acme.tier_object WHERE tier_id = $1",
      [id],
    );
    return rows[0];
  }

  async function expireLease(id: string): Promise<void> {
    await stack.services.pool.query('UPDATE t_acme.tier_object SET lease_expires_at = $2 WHERE tier_id = $1', [id, now - 1]);
  }

  before(async () => {
    stack = await startStack('acting');
    acme = await createTenant(stack, 'acme');
    other = await createTenant(stack, 'other');

    await ingestShare(stack, acme, 'finance', [
      { dir: 'D:\\Finance\\2019', name: 'a.xlsx', size: 100, atime: old, frn: '281474976710656' },
      { dir: 'D:\\Finance\\2019', name: 'b.xlsx', size: 200, atime: old, frn: '18446744073709551615' },
      { dir: 'D:\\Finance\\2020', name: 'c.pdf', size: 300, atime: old },
    ]);
    const many = Array.from({ length: 40 }, (_, i) => ({ dir: '/srv/bulk', name: `f${String(i).padStart(2, '0')}.bin`, size: i + 1, atime: old }));
    await ingestShare(stack, acme, 'bulk', many, 'posix');
    await ingestShare(stack, acme, 'long', [{ dir: 'D:\\Long', name: `${'A'.repeat(200)}.txt`, size: 1, atime: old }]);
    await ingestShare(stack, other, 'finance', [{ dir: 'D:\\Other', name: 'secret.doc', size: 5, atime: old }]);
    await plan(acme, 'finance');
    await plan(acme, 'bulk');
    await plan(acme, 'long');
    await plan(other, 'finance');
  });
  after(async () => stack?.close());

  let first: any[];

  it('claims planned files with a lease', async () => {
    // `now` dates from loading this file, which may be minutes before this test runs.
    const claimedAt = Math.floor(Date.now() / 1000);
    const response = await claim(stack, acme.agentToken, { share: 'finance', kind: 'tier', max: 10, leaseSeconds: 60 });
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
    first = [...response.body.actions].sort((x: any, y: any) => x.name.localeCompare(y.name));

    expect(first.map((action: any) => action.name)).to.deep.equal(['a.xlsx', 'b.xlsx', 'c.pdf']);
    const a = first[0];
    expect(a.kind).to.equal('tier');
    expect(a.dirPath).to.equal('D:\\Finance\\2019');
    expect(a.sizeBytes).to.equal(100);
    expect(a.mtimeUnix).to.equal(old);
    expect(a.sha256).to.equal(null);
    expect(a.leaseExpiresAt).to.be.within(claimedAt + 55, claimedAt + 120);
    expect(a.tier2Key).to.be.a('string').and.not.equal('');
    expect(first[2].fileId).to.equal(null);
    for (const action of first) expect((await state(action.id)).state).to.equal('IN_PROGRESS');
  });

  it('returns file ids up to 2^64 - 1 exactly', () => {
    expect(first[0].fileId).to.equal('281474976710656');
    expect(first[1].fileId).to.equal('18446744073709551615');
  });

  it('stores the Tier-2 key on the object', async () => {
    const { rows } = await stack.services.pool.query('SELECT tier2_key FROM t_acme.tier_object WHERE tier_id = $1', [first[0].id]);
    expect(rows[0].tier2_key).to.equal(first[0].tier2Key);
  });

  it('keeps the full key of a hashed key', async () => {
    const response = await claim(stack, acme.agentToken, { share: 'long', kind: 'tier', max: 10 });
    const action = response.body.actions[0];
    expect(action.tier2Key).to.contain('!long/');

    const { rows } = await stack.services.pool.query('SELECT tier2_key, tier2_full_key FROM t_acme.tier_object WHERE tier_id = $1', [action.id]);
    expect(rows[0].tier2_key).to.equal(action.tier2Key);
    expect(rows[0].tier2_full_key).to.contain('^a^a^a');
  });

  it('hands out nothing while leases are live', async () => {
    const response = await claim(stack, acme.agentToken, { share: 'finance', kind: 'tier', max: 10 });
    expect(response.status).to.equal(200);
    expect(response.body.actions).to.deep.equal([]);
  });

  it('gives concurrent claimers disjoint sets', async () => {
    const [firstClaim, secondClaim] = await Promise.all([
      claim(stack, acme.agentToken, { share: 'bulk', kind: 'tier', max: 30 }),
      claim(stack, acme.agentToken, { share: 'bulk', kind: 'tier', max: 30 }),
    ]);
    const ids = [...firstClaim.body.actions, ...secondClaim.body.actions].map((action: any) => action.id);
    expect(ids.length).to.equal(40);
    expect(new Set(ids).size).to.equal(40);
  });

  it('re-claims an expired lease with a larger fence', async () => {
    const action = first[2];
    await expireLease(action.id);

    const response = await claim(stack, acme.agentToken, { share: 'finance', kind: 'tier', max: 10 });
    expect(response.body.actions.map((a: any) => a.id)).to.deep.equal([action.id]);
    const again = response.body.actions[0];
    expect(BigInt(again.fence) > BigInt(action.fence)).to.equal(true);
    expect(again.tier2Key).to.equal(action.tier2Key);
    first[2] = { ...action, staleFence: action.fence, fence: again.fence };
  });

  it('rejects a result with a stale fence', async () => {
    const action = first[2];
    const single = await call(stack.api!.url, 'POST', `/v1/actions/${action.id}/result`, {
      token: acme.agentToken,
      json: { fence: action.staleFence, outcome: 'STUBBED', sha256: SHA_A },
    });
    expect(single.status).to.equal(409);
    expect(single.body.error.code).to.equal('STALE_FENCE');

    const batch = await report(stack, acme.agentToken, [{ id: action.id, fence: action.staleFence, outcome: 'STUBBED', sha256: SHA_A }]);
    expect(batch.status).to.equal(200);
    expect(batch.body.results[0].accepted).to.equal(false);
    expect(batch.body.results[0].reason).to.match(/stale/);
    expect((await state(action.id)).state).to.equal('IN_PROGRESS');
  });

  it('accepts the same result once and acknowledges it twice', async () => {
    const action = first[0];
    const result = { fence: action.fence, outcome: 'STUBBED', sha256: SHA_A.toUpperCase(), sizeBytes: 100 };
    const path = `/v1/actions/${action.id}/result`;
    const firstReport = await call(stack.api!.url, 'POST', path, { token: acme.agentToken, json: result });
    const repeated = await call(stack.api!.url, 'POST', path, { token: acme.agentToken, json: result });
    expect(firstReport.status).to.equal(200);
    expect(repeated.status).to.equal(200);
    expect(repeated.body).to.deep.equal({ id: action.id, accepted: true });

    const stored = await state(action.id);
    expect(stored.state).to.equal('STUBBED');
    expect(stored.sha256).to.equal(SHA_A);
    const log = await stack.services.pool.query('SELECT count(*)::int AS n FROM t_acme.tier_result_log WHERE tier_id = $1', [action.id]);
    expect(log.rows[0].n).to.equal(1);
  });

  it('applies a batch of results in one request', async () => {
    const batch = await report(stack, acme.agentToken, [
      { id: first[1].id, fence: first[1].fence, outcome: 'STALE', error: 'modified since the scan' },
      { id: first[2].id, fence: first[2].fence, outcome: 'FAILED', error: 'access denied' },
      { id: first[2].id, fence: first[2].fence, outcome: 'FAILED', error: 'access denied' },
      { id: '999999', fence: '1', outcome: 'FAILED' },
    ]);
    expect(batch.status).to.equal(200);
    expect(batch.body.results.map((r: any) => r.accepted)).to.deep.equal([true, true, true, false]);
    expect(batch.body.results[3].reason).to.match(/no action/);
    expect((await state(first[1].id)).state).to.equal('STALE');
    expect((await state(first[2].id)).state).to.equal('FAILED');
  });

  it('rejects a result without the content hash', async () => {
    const response = await report(stack, acme.agentToken, [{ id: first[0].id, fence: first[0].fence, outcome: 'STUBBED' }]);
    expect(response.status).to.equal(400);
    expect(response.body.error.message).to.match(/sha256/);
  });

  it('claims stubbed files matching a recall glob', async () => {
    const none = await claim(stack, acme.agentToken, { share: 'finance', kind: 'recall', max: 10, pattern: 'D:\\Finance\\2020\\**' });
    expect(none.body.actions).to.deep.equal([]);

    const response = await claim(stack, acme.agentToken, { share: 'finance', kind: 'recall', max: 10, pattern: 'd:/finance/*/A.XLSX' });
    expect(response.body.actions.length).to.equal(1);
    const recall = response.body.actions[0];
    expect(recall.kind).to.equal('recall');
    expect(recall.sha256).to.equal(SHA_A);
    expect(recall.tier2Key).to.equal(first[0].tier2Key);
    expect((await state(recall.id)).state).to.equal('RECALLING');

    const failed = await report(stack, acme.agentToken, [{ id: recall.id, fence: recall.fence, outcome: 'FAILED', error: 'Tier-2 unreachable' }]);
    expect(failed.body.results[0].accepted).to.equal(true);
    expect((await state(recall.id)).state).to.equal('STUBBED');

    // A stub the user changed since: the agent leaves it alone and reports STALE.
    const again = await claim(stack, acme.agentToken, { share: 'finance', kind: 'recall', max: 10, pattern: '**/a.xlsx' });
    const stale = await report(stack, acme.agentToken, [{ id: recall.id, fence: again.body.actions[0].fence, outcome: 'STALE', error: 'the stub was edited' }]);
    expect(stale.body.results[0].accepted).to.equal(true);
    expect((await state(recall.id)).state).to.equal('STUBBED');

    // Recall requested by the sanitizer: RECALLING with no lease waits for an agent.
    await stack.services.pool.query("UPDATE t_acme.tier_object SET state = 'RECALLING', lease_expires_at = NULL WHERE tier_id = $1", [recall.id]);
    const retry = await claim(stack, acme.agentToken, { share: 'finance', kind: 'recall', max: 10, pattern: '**/a.xlsx' });
    expect(retry.body.actions.map((action: { id: string }) => action.id)).to.deep.equal([recall.id]);
    const otherContent = await report(stack, acme.agentToken, [
      { id: recall.id, fence: retry.body.actions[0].fence, outcome: 'REHYDRATED', sha256: 'b'.repeat(64) },
    ]);
    expect(otherContent.body.results[0].accepted).to.equal(false);
    expect((await state(recall.id)).state).to.equal('RECALLING');

    const rehydrated = await report(stack, acme.agentToken, [
      { id: recall.id, fence: retry.body.actions[0].fence, outcome: 'REHYDRATED', sha256: SHA_A },
    ]);
    expect(rehydrated.body.results[0].accepted).to.equal(true);
    expect((await state(recall.id)).state).to.equal('REHYDRATED');
  });

  it('rejects an outcome that does not fit the claim', async () => {
    const bulk = await stack.services.pool.query("SELECT tier_id::text AS id, fence::text FROM t_acme.tier_object WHERE share_name = 'bulk' LIMIT 1");
    const { id, fence } = bulk.rows[0];
    const response = await call(stack.api!.url, 'POST', `/v1/actions/${id}/result`, {
      token: acme.agentToken,
      json: { fence, outcome: 'REHYDRATED', sha256: SHA_A },
    });
    expect(response.status).to.equal(422);
  });

  it('keeps tenants apart', async () => {
    const theirs = await claim(stack, other.agentToken, { share: 'bulk', kind: 'tier', max: 10 });
    expect(theirs.body.actions).to.deep.equal([]);

    const foreign = await report(stack, other.agentToken, [{ id: first[1].id, fence: first[1].fence, outcome: 'FAILED' }]);
    expect(foreign.body.results[0]).to.deep.include({ accepted: false });
    expect(foreign.body.results[0].reason).to.match(/no action/);
  });

  it('records the token in the audit log', async () => {
    const token = await stack.services.pool.query("SELECT id, name FROM control.api_token WHERE tenant_id = $1", [acme.id]);
    const { rows } = await stack.services.pool.query(
      "SELECT actor, action, details FROM t_acme.audit_log WHERE action IN ('action.claimed', 'action.results') ORDER BY audit_id",
    );
    expect(rows.length).to.be.greaterThan(4);
    for (const row of rows) {
      expect(row.details.tokenId).to.equal(token.rows[0].id);
      expect(row.details.tokenName).to.equal(token.rows[0].name);
      expect(row.actor).to.equal(token.rows[0].name);
    }
  });

  it('answers 404 for a share without target', async () => {
    const response = await call(stack.api!.url, 'GET', '/v1/shares/finance/target', { token: acme.agentToken });
    expect(response.status).to.equal(404);
    expect(response.body.error.code).to.equal('NO_TARGET');
  });

  it('sends the target with its credentials', async () => {
    const target = {
      kind: 's3',
      bucket: 'cold-files',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
      accessKeyId: 'AKIAEXAMPLEKEYID0001',
      secretAccessKey: 'secret/Value+With=Symbols-0001',
    };
    await setTarget(stack.services, acme, 'finance', target, 'test:operator');

    const response = await call(stack.api!.url, 'GET', '/v1/shares/finance/target', { token: acme.agentToken });
    expect(response.status).to.equal(200);
    expect(response.headers.get('cache-control')).to.equal('no-store');
    expect(response.body).to.deep.include(target);

    const theirs = await call(stack.api!.url, 'GET', '/v1/shares/finance/target', { token: other.agentToken });
    expect(theirs.status).to.equal(404);

    const audit = await stack.services.pool.query("SELECT details FROM t_acme.audit_log WHERE action = 'target.read'");
    expect(audit.rows.length).to.equal(1);
    expect(JSON.stringify(audit.rows[0].details)).to.not.contain('secret/Value');
  });

  it('counts claims and results in the metrics', async () => {
    const response = await call(stack.api!.url, 'GET', '/metrics');
    expect(response.body).to.match(/strata_actions_claimed_total\{kind="tier"\} 4[0-9]/);
    expect(response.body).to.match(/strata_action_results_total\{outcome="STUBBED",verdict="duplicate"\} 1/);
  });
});
