import { expect } from 'chai';
import { issueToken } from '../../src/control/tokens.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { claim, ingestShare, report, SHA_A } from '../support/acting.ts';
import { call } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const YEAR = 365 * 86_400;

describe('lease renewal', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  let other: ProvisionedTenant;
  let secondAgent: string;

  function renew(token: string, body: unknown) {
    return call(stack.api!.url, 'POST', '/v1/actions/renew', { token, json: body });
  }

  async function leaseOf(id: string): Promise<{ lease_expires_at: number; state: string }> {
    const { rows } = await stack.services.pool.query('SELECT lease_expires_at, state FROM t_acme.tier_object WHERE tier_id = $1', [id]);
    return rows[0];
  }

  async function claimOne(token = acme.agentToken, leaseSeconds = 30): Promise<any> {
    const response = await claim(stack, token, { share: 'bulk', kind: 'tier', max: 1, leaseSeconds });
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
    expect(response.body.actions).to.have.length(1);
    return response.body.actions[0];
  }

  before(async () => {
    stack = await startStack('renewal');
    acme = await createTenant(stack, 'acme');
    other = await createTenant(stack, 'other');
    const old = Math.floor(Date.now() / 1000) - 2 * YEAR;
    const files = Array.from({ length: 30 }, (_, i) => ({ dir: '/srv/bulk', name: `f${i}.bin`, size: i + 1, atime: old }));
    await ingestShare(stack, acme, 'bulk', files, 'posix');
    await planColdFiles(stack.services.pool, acme, { share: 'bulk', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

    const client = await stack.services.pool.connect();
    try {
      secondAgent = (await issueToken(client, acme.id, 'second-agent', ['act'], null)).token;
    } finally {
      client.release();
    }
  });
  after(async () => stack?.close());

  it('returns the lease length with a claim', async () => {
    const action = await claimOne(acme.agentToken, 40);
    expect(action.leaseSeconds).to.equal(40);
    expect(action.leaseExpiresAt - Math.floor(Date.now() / 1000)).to.be.within(35, 40);
  });

  it('extends a held lease', async () => {
    const action = await claimOne(acme.agentToken, 10);
    const before = await leaseOf(action.id);

    const response = await renew(acme.agentToken, { leases: [{ id: action.id, fence: action.fence }], leaseSeconds: 120 });
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
    const [answer] = response.body.leases;
    expect(answer).to.include({ id: action.id, renewed: true });
    expect(answer.leaseSeconds).to.be.within(118, 120);

    const after = await leaseOf(action.id);
    expect(after.state).to.equal('IN_PROGRESS');
    expect(after.lease_expires_at).to.equal(answer.leaseExpiresAt);
    expect(after.lease_expires_at - before.lease_expires_at).to.be.within(108, 112);
  });

  it('never shortens a lease', async () => {
    const action = await claimOne(acme.agentToken, 600);
    const before = await leaseOf(action.id);
    const response = await renew(acme.agentToken, { leases: [{ id: action.id, fence: action.fence }], leaseSeconds: 10 });
    expect(response.body.leases[0].renewed).to.equal(true);
    expect((await leaseOf(action.id)).lease_expires_at).to.equal(before.lease_expires_at);
  });

  it('extends an expired unclaimed lease', async () => {
    const action = await claimOne(acme.agentToken, 10);
    await stack.services.pool.query('UPDATE t_acme.tier_object SET lease_expires_at = 1 WHERE tier_id = $1', [action.id]);

    const response = await renew(acme.agentToken, { leases: [{ id: action.id, fence: action.fence }] });
    expect(response.body.leases[0].renewed).to.equal(true);
    // The server's default lease (300 s) applies when the request names none.
    expect((await leaseOf(action.id)).lease_expires_at - Math.floor(Date.now() / 1000)).to.be.within(295, 300);
  });

  it('rejects a lease taken over', async () => {
    const action = await claimOne(acme.agentToken, 10);
    await stack.services.pool.query('UPDATE t_acme.tier_object SET lease_expires_at = 1 WHERE tier_id = $1', [action.id]);
    // Claims go in id order, so the expired lease, claimed before the files still planned, comes first.
    const reclaimed = await claim(stack, secondAgent, { share: 'bulk', kind: 'tier', max: 1, leaseSeconds: 30 });
    const takeover = reclaimed.body.actions.find((a: any) => a.id === action.id);
    expect(takeover, 'the expired lease is claimed again').to.not.equal(undefined);

    const response = await renew(acme.agentToken, { leases: [{ id: action.id, fence: action.fence }], leaseSeconds: 600 });
    expect(response.body.leases[0]).to.include({ id: action.id, renewed: false });
    expect(response.body.leases[0].reason).to.match(/no longer held/);
    expect((await leaseOf(action.id)).lease_expires_at - Math.floor(Date.now() / 1000)).to.be.at.most(30);

    // The takeover's fence with the first agent's token is not the holder either.
    const wrongToken = await renew(acme.agentToken, { leases: [{ id: action.id, fence: takeover.fence }] });
    expect(wrongToken.body.leases[0].renewed).to.equal(false);
    const holder = await renew(secondAgent, { leases: [{ id: action.id, fence: takeover.fence }] });
    expect(holder.body.leases[0].renewed).to.equal(true);

    // Leave nothing leased for the tests after this one.
    const released = await report(
      stack,
      secondAgent,
      reclaimed.body.actions.map((a: any) => ({ id: a.id, fence: a.fence, outcome: 'FAILED', error: 'test' })),
    );
    expect(released.status).to.equal(200);
  });

  it('rejects a lease with a result', async () => {
    const action = await claimOne(secondAgent, 30);
    const reported = await report(stack, secondAgent, [{ id: action.id, fence: action.fence, outcome: 'STUBBED', sha256: SHA_A }]);
    expect(reported.body.results[0].accepted).to.equal(true);

    const response = await renew(secondAgent, { leases: [{ id: action.id, fence: action.fence }] });
    expect(response.body.leases[0].renewed).to.equal(false);
    const stored = await leaseOf(action.id);
    expect(stored.state).to.equal('STUBBED');
    expect(stored.lease_expires_at).to.equal(null);
  });

  it('answers per lease, per tenant', async () => {
    const mine = await claimOne(acme.agentToken, 20);
    const response = await renew(acme.agentToken, {
      leases: [
        { id: mine.id, fence: mine.fence },
        { id: '999999', fence: '1' },
      ],
    });
    expect(response.body.leases.map((lease: any) => lease.renewed)).to.deep.equal([true, false]);
    expect(response.body.leases[1].reason).to.match(/no such action/);

    const foreign = await renew(other.agentToken, { leases: [{ id: mine.id, fence: mine.fence }] });
    expect(foreign.status).to.equal(200);
    expect(foreign.body.leases[0]).to.include({ renewed: false });
    expect(foreign.body.leases[0].reason).to.match(/no such action/);
  });

  it('names the invalid field', async () => {
    const empty = await renew(acme.agentToken, { leases: [] });
    expect(empty.status).to.equal(400);
    expect(empty.body.error.message).to.match(/leases must NOT have fewer than 1 items/);

    const badFence = await renew(acme.agentToken, { leases: [{ id: '1', fence: 'x' }] });
    expect(badFence.status).to.equal(400);
    expect(badFence.body.error.message).to.match(/leases\.0\.fence/);

    const tooLong = await renew(acme.agentToken, { leases: [{ id: '1', fence: '1' }], leaseSeconds: 86_401 });
    expect(tooLong.status).to.equal(400);
    expect(tooLong.body.error.message).to.match(/leaseSeconds must be <= 86400/);

    const unauthenticated = await call(stack.api!.url, 'POST', '/v1/actions/renew', { json: { leases: [{ id: '1', fence: '1' }] } });
    expect(unauthenticated.status).to.equal(401);
  });

  it('rejects ids past 64 bits', async () => {
    const id = await renew(acme.agentToken, { leases: [{ id: '9223372036854775808', fence: '1' }] });
    expect(id.status, JSON.stringify(id.body)).to.equal(400);
    expect(id.body.error.message).to.match(/leases\.0\.id/);

    const fence = await renew(acme.agentToken, { leases: [{ id: '1', fence: '9999999999999999999' }] });
    expect(fence.status, JSON.stringify(fence.body)).to.equal(400);
    expect(fence.body.error.message).to.match(/leases\.0\.fence/);
  });

  it('reports a repeated id once per entry', async () => {
    const mine = await claimOne();
    const response = await renew(acme.agentToken, {
      leases: [
        { id: mine.id, fence: mine.fence },
        { id: mine.id, fence: String(BigInt(mine.fence) + 1n) },
      ],
    });
    expect(response.status).to.equal(200);
    expect(response.body.leases.map((lease: any) => lease.renewed)).to.deep.equal([true, false]);
  });

  it('records audit rows and metrics', async () => {
    const { rows } = await stack.services.pool.query("SELECT actor, details FROM t_acme.audit_log WHERE action = 'action.renewed' ORDER BY audit_id");
    expect(rows.length).to.be.at.least(7);
    expect(rows.some((row) => row.actor === 'second-agent')).to.equal(true);
    expect(rows.every((row) => Array.isArray(row.details.renewed) && Array.isArray(row.details.lost))).to.equal(true);

    const metrics = await call(stack.api!.url, 'GET', '/metrics');
    expect(metrics.body).to.match(/strata_lease_renewals_total\{result="renewed"\} [1-9]/);
    expect(metrics.body).to.match(/strata_lease_renewals_total\{result="lost"\} [1-9]/);
  });
});
