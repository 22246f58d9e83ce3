import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { setTarget } from '../../src/acting/targets.ts';
import { authenticate } from '../../src/control/authenticate.ts';
import { findTenantByCode } from '../../src/control/tenants.ts';
import { activeAdminTokens, createToken } from '../../src/control/tokenRegistry.ts';
import { Roles } from '../../src/db/roles.ts';
import { SanitizeQueue } from '../../src/jobs/sanitizeQueue.ts';
import { adminPerson, approveProposal, startExecution } from '../../src/sanitize/approvals.ts';
import { openInventory } from '../../src/sanitize/inventoryRuns.ts';
import { listInventory } from '../../src/sanitize/listInventory.ts';
import { createProposal, getProposal, type Approver } from '../../src/sanitize/proposals.ts';
import { createReconcileRun, reconcileRun } from '../../src/sanitize/reconcile.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { runStrata, startStrata } from '../support/strataProcess.ts';
import { scanShare } from '../sanitize/fixtures.ts';

const ORPHANS = 8;

describe('remediation worker killed midway', function () {
  this.timeout(300_000);
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let root: string;
  let store: FsStore;
  let proposalId: string;
  let env: Record<string, string>;

  async function approver(person: string): Promise<Approver> {
    const record = (await findTenantByCode(stack.services.pool, 'acme'))!;
    const issued = await createToken(stack.services.pool, record, { name: person, scopes: ['admin'], expiresAt: null, person, actor: 'test' });
    return adminPerson(await authenticate(stack.services.pool, issued.token), tenant);
  }

  async function ledger(): Promise<string[]> {
    const { rows } = await stack.services.pool.query('SELECT status FROM t_acme.remediation_action WHERE proposal_id = $1 ORDER BY seq', [proposalId]);
    return rows.map((row) => row.status);
  }

  async function queueExecution(requester: Approver): Promise<void> {
    await startExecution(stack.services.pool, tenant, {
      proposalId,
      startedBy: requester,
      validTokens: (ids) => activeAdminTokens(stack.services.pool, tenant.id, ids),
    });
    await new SanitizeQueue(stack.boss!).remediation({ tenantId: tenant.id, proposalId, phase: 'execute' });
  }

  before(async () => {
    stack = await startStack('faults_remediation_kill');
    tenant = await createTenant(stack, 'acme');
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-remediation-kill-'));
    store = new FsStore(root);
    await setTarget({ pool: stack.services.pool, deks: stack.services.deks }, tenant, 'projects', { kind: 'fs', root }, 'test');
    env = { DATABASE_URL: stack.db.url, STRATA_KEYRING_DIR: stack.keyringDir, STRATA_ALLOW_SUPERUSER: '1', STRATA_DB_POOL_MAX: '4' };

    for (let index = 0; index < ORPHANS; index++) {
      const body = Buffer.from(`orphan ${index}`);
      await store.put(`projects/orphan-${index}.bin`, Readable.from([body]), { sizeBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    }
    await scanShare(stack, tenant.agentToken, 'projects', [{ dir: '/srv/p', name: 'a.doc', size: 1, used: 1 }]);
    const inventoryGuid = 'a0000000-0000-4000-8000-000000000001';
    await openInventory(stack.services.pool, tenant, Roles.sanitizer, { inventoryGuid, share: 'projects', source: 'server', openedBy: 'test' });
    await listInventory(stack.services.pool, tenant, inventoryGuid, store, { pageSize: 1000, log: stack.services.log });
    const runId = await createReconcileRun(stack.services.pool, tenant, { share: 'projects', staleAfterSeconds: 86_400, requestedBy: 'test' });
    const run = await reconcileRun(stack.services.pool, tenant, runId, stack.services.log);
    expect(run.totals.ORPHAN.findings).to.equal(ORPHANS);

    const requester = await approver('alice@example.com');
    const proposal = await createProposal(stack.services.pool, tenant, { runId, requester, orphans: 'quarantine', ttlSeconds: 3600, graceSeconds: 0 });
    proposalId = proposal.proposalId;
    for (const person of ['bob@example.com', 'carol@example.com']) {
      await approveProposal(stack.services.pool, tenant, { proposalId, digest: proposal.digest, approver: await approver(person) });
    }
    await queueExecution(requester);
  });
  after(async () => {
    await stack?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('loses nothing and records each action once', async () => {
    // The worker exits at once after its third recorded action, as a kill would.
    const killed = await runStrata(['worker'], { ...env, STRATA_FAULT_EXIT_AFTER_ACTIONS: '3' });
    expect(killed.code, killed.stderr).to.equal(137);
    expect((await ledger()).filter((status) => status === 'PENDING')).to.have.length(ORPHANS - 3);

    // Queueing the proposal again is the operator's recovery; pg-boss would also retry
    // the dead worker's job once its heartbeat lapses.
    await queueExecution(await approver('dave@example.com'));
    const worker = await startStrata(['worker'], 'worker started', env);
    try {
      const deadline = Date.now() + 120_000;
      while ((await getProposal(stack.services.pool, tenant, proposalId)).status !== 'EXECUTED') {
        if (Date.now() > deadline) throw new Error('the proposal was not executed within 120 s');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await worker.stop();
    }

    expect(await ledger()).to.deep.equal(Array(ORPHANS).fill('QUARANTINED'));
    const audit = await stack.services.pool.query(
      `SELECT details->>'seq' AS seq, count(*)::int AS n FROM t_acme.audit_log
        WHERE action = 'remediation.quarantine' AND details->>'proposalId' = $1 GROUP BY 1`,
      [proposalId],
    );
    expect(audit.rows).to.have.length(ORPHANS);
    expect(audit.rows.every((row) => row.n === 1)).to.equal(true);

    const left = await store.list('projects/', null, 1000);
    expect(left.objects).to.deep.equal([]);
    const quarantined = await store.list(`.strata-quarantine/${proposalId}/`, null, 1000);
    expect(quarantined.objects).to.have.length(ORPHANS);
  });
});
