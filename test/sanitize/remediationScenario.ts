import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { authenticate } from '../../src/control/authenticate.ts';
import { findTenantByCode } from '../../src/control/tenants.ts';
import { activeAdminTokens, createToken } from '../../src/control/tokenRegistry.ts';
import type { TokenScope } from '../../src/control/tokens.ts';
import { Roles } from '../../src/db/roles.ts';
import { StrataError } from '../../src/errors.ts';
import { SanitizeQueue } from '../../src/jobs/sanitizeQueue.ts';
import { registerSanitizeWorkers } from '../../src/jobs/sanitizeWorkers.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { adminPerson, approveProposal, startExecution } from '../../src/sanitize/approvals.ts';
import { openInventory } from '../../src/sanitize/inventoryRuns.ts';
import { listInventory } from '../../src/sanitize/listInventory.ts';
import { createProposal, getProposal, type Approver, type ProposalView } from '../../src/sanitize/proposals.ts';
import { createReconcileRun, reconcileRun, type RunSummary } from '../../src/sanitize/reconcile.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { scanShare, setTierObject, YEAR, type ScanFile } from './fixtures.ts';

/** A store under test and how to stop what backs it. */
export interface StoreUnderTest {
  store: Tier2Store;
  stop(): Promise<void>;
}

async function putObject(store: Tier2Store, key: string, text: string): Promise<void> {
  const body = Buffer.from(text);
  await store.put(key, Readable.from([body]), { sizeBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
}

async function rejection(promise: Promise<unknown>): Promise<StrataError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StrataError) return error;
    throw error;
  }
  throw new Error('expected a StrataError, but the call succeeded');
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Run the sanitizer end to end on one kind of Tier-2 store: construct every finding kind,
 * reconcile, propose, approve (with each rejected approval), execute with a crash after
 * a few actions, and reconcile again.
 */
export function describeRemediation(label: string, openStore: () => Promise<StoreUnderTest>): void {
  describe(`sanitize remediation on ${label}`, () => {
    let stack: Stack;
    let tenant: ProvisionedTenant;
    let backing: StoreUnderTest;
    let store: Tier2Store;
    const people: Record<string, { token: string; approver: Approver }> = {};
    const now = Math.floor(Date.now() / 1000);
    let crashAfter = 0;
    let crashes = 0;
    let first: RunSummary;
    let proposal: ProposalView;

    const content = (name: string, size: number) => name.padEnd(size, '.').slice(0, size);
    const files: ScanFile[] = [
      ['ok.doc', 10],
      ['missing.doc', 20],
      ['stale.doc', 30],
      ['stalestub.doc', 40],
      ['gone.doc', 50],
      ['size.doc', 60],
      ['failed.doc', 70],
      ['ref.doc', 80],
      ['a b.txt', 3],
      ['a+b.txt', 4],
      ['100%.csv', 5],
    ].map(([name, size]) => ({ dir: '/srv/p', name: name as string, size: size as number, used: now - 2 * YEAR }));
    const sizeOf = (name: string) => files.find((file) => file.name === name)!.size;

    async function token(person: string | null, scopes: TokenScope[] = ['admin']): Promise<{ token: string; approver: Approver | null }> {
      const record = (await findTenantByCode(stack.services.pool, 'acme'))!;
      const issued = await createToken(stack.services.pool, record, { name: `t-${randomUUID()}`, scopes, expiresAt: null, person, actor: 'test' });
      const principal = await authenticate(stack.services.pool, issued.token);
      let approver: Approver | null = null;
      try {
        approver = adminPerson(principal, tenant);
      } catch {
        // Tokens without a person or without the admin scope are what some cases test.
      }
      return { token: issued.token, approver };
    }

    async function inventory(): Promise<void> {
      const inventoryGuid = randomUUID();
      await openInventory(stack.services.pool, tenant, Roles.sanitizer, { inventoryGuid, share: 'projects', source: 'server', openedBy: 'test' });
      const view = await listInventory(stack.services.pool, tenant, inventoryGuid, store, { pageSize: 2, log: stack.services.log });
      expect(view.status).to.equal('COMPLETE');
    }

    async function reconcile(): Promise<RunSummary> {
      const runId = await createReconcileRun(stack.services.pool, tenant, { share: 'projects', staleAfterSeconds: YEAR, requestedBy: 'test' });
      return reconcileRun(stack.services.pool, tenant, runId, stack.services.log);
    }

    function propose(ttlSeconds = 3600): Promise<ProposalView> {
      return createProposal(stack.services.pool, tenant, { runId: first.runId, requester: people.alice!.approver, orphans: 'delete', ttlSeconds, graceSeconds: 0 });
    }

    function approve(target: ProposalView, person: string, digest = target.digest): Promise<ProposalView> {
      return approveProposal(stack.services.pool, tenant, { proposalId: target.proposalId, digest, approver: people[person]!.approver });
    }

    function start(target: ProposalView): Promise<ProposalView> {
      return startExecution(stack.services.pool, tenant, {
        proposalId: target.proposalId,
        startedBy: people.alice!.approver,
        validTokens: (ids) => activeAdminTokens(stack.services.pool, tenant.id, ids),
      });
    }

    async function states(): Promise<Record<string, string>> {
      const { rows } = await stack.services.pool.query('SELECT name, state FROM t_acme.tier_object ORDER BY name');
      return Object.fromEntries(rows.map((row) => [row.name, row.state]));
    }

    before(async function () {
      this.timeout(300_000);
      backing = await openStore();
      store = backing.store;
      stack = await startStack(`sanitize_${label.replace(/\W/g, '_').toLowerCase()}`);
      tenant = await createTenant(stack, 'acme');
      await registerSanitizeWorkers({
        boss: stack.boss!,
        pool: stack.services.pool,
        log: stack.services.log,
        settings: stack.config.sanitize,
        tier2Stores: async () => store,
        pollingIntervalSeconds: 0.5,
        afterRemediationAction: (recorded) => {
          if (crashAfter > 0 && recorded === crashAfter) {
            crashAfter = 0;
            crashes++;
            throw new Error('executor stopped by the test after its third action');
          }
        },
      });
      for (const person of ['alice', 'bob', 'carol']) {
        const issued = await token(`${person}@example.com`);
        people[person] = { token: issued.token, approver: issued.approver! };
      }

      await scanShare(stack, tenant.agentToken, 'projects', files);
      await planColdFiles(stack.services.pool, tenant, { share: 'projects', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

      const before = now - 100;
      // Keys with a space, a plus and a percent sign, which S3 lists URL-encoded, must match exactly.
      for (const name of ['ok.doc', 'missing.doc', 'stalestub.doc', 'size.doc', 'a b.txt', 'a+b.txt', '100%.csv']) await setTierObject(stack, 't_acme', name, 'STUBBED', `projects/${name}`, before);
      for (const name of ['stale.doc', 'gone.doc', 'ref.doc']) await setTierObject(stack, 't_acme', name, 'PLANNED', null, before);
      await setTierObject(stack, 't_acme', 'failed.doc', 'FAILED', 'projects/failed.doc', before);

      for (const name of ['ok.doc', 'stalestub.doc', 'failed.doc', 'a b.txt', 'a+b.txt', '100%.csv']) await putObject(store, `projects/${name}`, content(name, sizeOf(name)));
      await putObject(store, 'projects/size.doc', content('size.doc', 61));
      await putObject(store, 'projects/orphan one.bin', 'orphan-1');
      // As large as ref.doc, which later refers to it, so that reference is no size mismatch.
      await putObject(store, 'projects/orphan2.bin', content('orphan2', 80));
      // Another share's object in the same target is outside this share's inventory.
      await putObject(store, 'archive/x.bin', 'not ours');
      await inventory();

      const rescan = files
        .filter((file) => file.name !== 'gone.doc')
        .map((file) => (file.name === 'stale.doc' || file.name === 'stalestub.doc' ? { ...file, used: now - 60 } : file));
      await scanShare(stack, tenant.agentToken, 'projects', rescan);
      first = await reconcile();
    });
    after(async function () {
      this.timeout(300_000);
      await stack?.close();
      await backing?.stop();
    });

    it('finds each kind exactly', () => {
      expect(first.totals.MISSING).to.deep.equal({ findings: 1, bytes: 20 });
      expect(first.totals.ORPHAN).to.deep.equal({ findings: 3, bytes: 70 + 8 + 80 });
      expect(first.totals.STALE).to.deep.equal({ findings: 2, bytes: 70 });
      expect(first.totals.BROKEN_REF).to.deep.equal({ findings: 1, bytes: 50 });
      expect(first.totals.SIZE_MISMATCH).to.deep.equal({ findings: 1, bytes: 60 });
    });

    it('proposes as a dry run that changes nothing', async () => {
      const statesBefore = await states();
      proposal = await propose();

      expect(proposal.status).to.equal('PENDING');
      expect(proposal.actions.map((action) => `${action.kind}:${action.action}`)).to.deep.equal([
        'MISSING:mark_lost',
        'ORPHAN:delete',
        'ORPHAN:delete',
        'ORPHAN:delete',
        'STALE:cancel',
        'STALE:recall',
        'BROKEN_REF:cancel',
        'SIZE_MISMATCH:review',
      ]);
      expect(proposal.digest).to.equal(createHash('sha256').update(proposal.content).digest('hex'));
      expect(await states()).to.deep.equal(statesBefore);
      expect(await store.head('projects/orphan2.bin')).to.not.equal(null);
    });

    it('rejects the requester as approver', async () => {
      const error = await rejection(approve(proposal, 'alice'));
      expect(error.status).to.equal(403);
    });

    it('rejects a digest other than the proposal\'s', async () => {
      const error = await rejection(approve(proposal, 'bob', '0'.repeat(64)));
      expect(error.code).to.equal('DIGEST_MISMATCH');
    });

    it('rejects tokens without a person or admin scope', async () => {
      const nameless = await authenticate(stack.services.pool, (await token(null)).token);
      expect(() => adminPerson(nameless, tenant)).to.throw(StrataError, /names no person/);
      const uploader = await authenticate(stack.services.pool, (await token('dave@example.com', ['upload'])).token);
      expect(() => adminPerson(uploader, tenant)).to.throw(StrataError, /admin scope/);
    });

    it('refuses to execute with one approval', async () => {
      await approve(proposal, 'bob');
      const again = await rejection(approve(proposal, 'bob'));
      expect(again.code).to.equal('ALREADY_APPROVED');

      const error = await rejection(start(proposal));
      expect(error.status).to.equal(403);
      expect(error.message).to.match(/1 valid approval/);
    });

    it('refuses a proposal changed after approval', async () => {
      const changed = await propose();
      await approve(changed, 'bob');
      await approve(changed, 'carol');
      await stack.services.pool.query("UPDATE t_acme.remediation_proposal SET content = replace(content, '\"mark_lost\"', '\"replan\"') WHERE proposal_id = $1", [
        changed.proposalId,
      ]);

      expect((await rejection(start(changed))).code).to.equal('PROPOSAL_CHANGED');
      expect((await getProposal(stack.services.pool, tenant, changed.proposalId)).intact).to.equal(false);
    });

    it('refuses an expired proposal', async () => {
      const shortLived = await propose(1);
      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect((await rejection(approve(shortLived, 'bob'))).code).to.equal('PROPOSAL_EXPIRED');
    });

    it('refuses an approval whose token was revoked', async () => {
      const approved = await propose();
      const eve = await token('eve@example.com');
      people.eve = { token: eve.token, approver: eve.approver! };
      await approve(approved, 'bob');
      await approve(approved, 'eve');
      await stack.services.pool.query('UPDATE control.api_token SET revoked_at = now() WHERE id = $1', [eve.approver!.tokenId]);
      expect((await rejection(start(approved))).status).to.equal(403);
    });

    it('executes once across a crash', async function () {
      this.timeout(120_000);
      // A stub that refers to an orphan's key after the proposal was issued keeps it from being moved.
      await setTierObject(stack, 't_acme', 'ref.doc', 'STUBBED', 'projects/orphan2.bin', now);

      await approve(proposal, 'carol');
      const started = await start(proposal);
      expect(started.status).to.equal('EXECUTING');

      crashAfter = 3;
      await new SanitizeQueue(stack.boss!).remediation({ tenantId: tenant.id, proposalId: proposal.proposalId, phase: 'execute' });
      await until('the proposal to be executed', 90_000, async () => (await getProposal(stack.services.pool, tenant, proposal.proposalId)).status === 'EXECUTED');
      expect(crashes).to.equal(1);

      await until('quarantined orphans to be deleted', 60_000, async () => {
        const { rows } = await stack.services.pool.query("SELECT count(*)::int AS n FROM t_acme.remediation_action WHERE status = 'QUARANTINED'");
        return rows[0].n === 0;
      });

      const audit = await stack.services.pool.query(
        `SELECT details->>'seq' AS seq, count(*)::int AS n, min(details->>'approvers') AS approvers
           FROM t_acme.audit_log
          WHERE details->>'proposalId' = $1 AND action NOT IN ('remediation.started', 'remediation.executed', 'remediation.purged')
            AND details ? 'seq'
          GROUP BY 1 ORDER BY 1::int`,
        [proposal.proposalId],
      );
      expect(audit.rows.map((row) => `${row.seq}:${row.n}`)).to.deep.equal(['0:1', '1:1', '2:1', '3:1', '4:1', '5:1', '6:1', '7:1']);
      expect(JSON.parse(audit.rows[0].approvers)).to.deep.equal(['bob@example.com', 'carol@example.com']);

      const ledger = await stack.services.pool.query('SELECT seq, status FROM t_acme.remediation_action WHERE proposal_id = $1 ORDER BY seq', [proposal.proposalId]);
      expect(ledger.rows.map((row) => row.status)).to.deep.equal(['DONE', 'PURGED', 'PURGED', 'SKIPPED', 'DONE', 'DONE', 'DONE', 'SKIPPED']);
    });

    it('leaves referenced objects and repairs the rest', async () => {
      expect(await states()).to.include({
        'missing.doc': 'LOST',
        'stale.doc': 'CANCELLED',
        'stalestub.doc': 'RECALLING',
        'gone.doc': 'CANCELLED',
        'size.doc': 'STUBBED',
        'ok.doc': 'STUBBED',
      });
      expect(await store.head('projects/orphan2.bin')).to.not.equal(null);
      expect(await store.head('projects/orphan one.bin')).to.equal(null);
      expect(await store.head('projects/failed.doc')).to.equal(null);
      expect(await store.head('projects/ok.doc')).to.not.equal(null);
      const quarantined = await store.list('.strata-quarantine/', null, 100);
      expect(quarantined.objects).to.deep.equal([]);
    });

    it('finds nothing left of the repaired kinds', async () => {
      await inventory();
      const after = await reconcile();
      expect(after.totals.MISSING.findings).to.equal(0);
      expect(after.totals.ORPHAN.findings).to.equal(0);
      expect(after.totals.STALE.findings).to.equal(0);
      expect(after.totals.BROKEN_REF.findings).to.equal(0);
      expect(after.totals.SIZE_MISMATCH.findings).to.equal(1);
      expect(after.delta.ORPHAN.findings).to.equal(-3);
    });
  });
}
