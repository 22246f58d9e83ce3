import { expect } from 'chai';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';

import { LeaseKeeper, type LeaseRenewer } from '../../agent/tiering/leaseKeeper.ts';
import { runActions } from '../../agent/tiering/runActions.ts';
import { runTiering } from '../../agent/tiering/runTiering.ts';
import { throwIfLeaseLost } from '../../agent/tiering/tierFile.ts';
import { setTarget } from '../../src/acting/targets.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import type { PutOptions } from '../../src/tier2/tier2Store.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import type { ActionResult, RenewLeasesRequest, RenewLeasesResponse } from '../../src/wire/acting.ts';
import { claim } from '../support/acting.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { ClaimDouble, claimFor } from './support/claimDouble.ts';
import { expectNothingLost, scanAndPlan, tierStates, writeColdFiles } from './support/tieringSetup.ts';

const logger = pino({ level: 'silent' });

/** A renewer that records requests, fails the first `failuresLeft`, and reports the leases in `lostIds` lost. */
class RenewerDouble implements LeaseRenewer {
  readonly requests: RenewLeasesRequest[] = [];
  failuresLeft = 0;
  lostIds = new Set<string>();

  async renewLeases(request: RenewLeasesRequest): Promise<RenewLeasesResponse> {
    this.requests.push(request);
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error('server unreachable (test)');
    }
    return {
      leases: request.leases.map((lease) =>
        this.lostIds.has(lease.id) ? { id: lease.id, renewed: false, reason: 'claimed again (test)' } : { id: lease.id, renewed: true, leaseExpiresAt: 0, leaseSeconds: 2 },
      ),
    };
  }
}

/** The claim double, with renewals handled by a RenewerDouble. */
class RenewingClaimDouble extends ClaimDouble implements LeaseRenewer {
  readonly renewer = new RenewerDouble();

  renewLeases(request: RenewLeasesRequest): Promise<RenewLeasesResponse> {
    return this.renewer.renewLeases(request);
  }
}

const file = { sizeBytes: 1, mtimeUnix: 0, fileId: null };

describe('agent lease renewal', function () {
  describe('LeaseKeeper', function () {
    it('renews a lease past its half', async function () {
      const renewer = new RenewerDouble();
      const keeper = new LeaseKeeper(renewer, { logger, checkIntervalMs: 50 });
      const action = claimFor('/srv', 'a', file, { leaseSeconds: 2 });
      keeper.hold(action);

      await sleep(600);
      expect(renewer.requests, 'nothing is due in the first half').to.have.length(0);
      await sleep(3000);
      await keeper.close();

      // Each renewal grants 2 s again, so in 3.6 s the lease was renewed two or three times.
      expect(renewer.requests.length).to.be.within(2, 4);
      expect(renewer.requests[0]!.leases).to.deep.equal([{ id: action.id, fence: action.fence }]);
      expect(keeper.lease(action.id).remainingSeconds()).to.be.greaterThan(0.5);
      expect(keeper.lease(action.id).lost).to.equal(false);
    });

    it('renews after the clock steps back', async function () {
      const renewer = new RenewerDouble();
      const keeper = new LeaseKeeper(renewer, { logger, checkIntervalMs: 50 });
      const action = claimFor('/srv', 'a', file, { leaseSeconds: 2 });
      keeper.hold(action);

      // The system clock steps back an hour (a time correction). The lease on the server
      // still ends two seconds after the claim.
      const realNow = Date.now;
      Date.now = () => realNow() - 3_600_000;
      try {
        await sleep(1600);
      } finally {
        Date.now = realNow;
      }
      await keeper.close();

      expect(renewer.requests.length, 'renewals in the lease second half').to.be.greaterThan(0);
      expect(keeper.lease(action.id).remainingSeconds()).to.be.below(3);
    });

    it('renews nearly due leases together', async function () {
      const renewer = new RenewerDouble();
      const keeper = new LeaseKeeper(renewer, { logger, checkIntervalMs: 50 });
      const first = claimFor('/srv', 'first', file, { leaseSeconds: 4 });
      const second = claimFor('/srv', 'second', file, { leaseSeconds: 4 });
      const unrelated = claimFor('/srv', 'unrelated', file, { leaseSeconds: 60 });
      keeper.hold(first);
      keeper.hold(unrelated);
      await sleep(600);
      keeper.hold(second);

      // The first is due 2 s in; the second then has 2.6 s of 4 left, under three quarters.
      await sleep(1700);
      await keeper.close();
      expect(renewer.requests.length).to.be.at.least(1);
      expect(renewer.requests[0]!.leases.map((lease) => lease.id)).to.deep.equal([first.id, second.id]);
    });

    it('marks a rejected lease lost', async function () {
      const renewer = new RenewerDouble();
      const keeper = new LeaseKeeper(renewer, { logger, checkIntervalMs: 50 });
      const renewable = claimFor('/srv', 'renewable', file, { leaseSeconds: 1 });
      const takenOver = claimFor('/srv', 'taken-over', file, { leaseSeconds: 1 });
      renewer.lostIds.add(takenOver.id);
      keeper.hold(renewable);
      keeper.hold(takenOver);

      await sleep(1500);
      await keeper.close();
      expect(keeper.lease(takenOver.id).lost).to.equal(true);
      expect(keeper.lease(renewable.id).lost).to.equal(false);
      expect(keeper.lost).to.equal(1);
      const namesOfTaken = renewer.requests.filter((request) => request.leases.some((lease) => lease.id === takenOver.id));
      expect(namesOfTaken, 'a lost lease is asked for once').to.have.length(1);
    });

    it('retries a failed renewal', async function () {
      const renewer = new RenewerDouble();
      renewer.failuresLeft = 2;
      const keeper = new LeaseKeeper(renewer, { logger, checkIntervalMs: 50 });
      const action = claimFor('/srv', 'a', file, { leaseSeconds: 1 });
      keeper.hold(action);

      await sleep(1200);
      await keeper.close();
      expect(renewer.requests.length).to.be.at.least(3);
      expect(keeper.renewed).to.be.at.least(1);
      expect(keeper.lease(action.id).lost).to.equal(false);
    });

    it('stops renewing a released lease', async function () {
      const renewer = new RenewerDouble();
      const keeper = new LeaseKeeper(renewer, { logger, checkIntervalMs: 50 });
      const action = claimFor('/srv', 'a', file, { leaseSeconds: 1 });
      keeper.hold(action);
      keeper.release(action.id);

      await sleep(800);
      await keeper.close();
      expect(renewer.requests).to.have.length(0);
    });
  });

  describe('runActions', function () {
    it('passes a lost lease to the worker', async function () {
      const actions = [claimFor('/srv', 'slow', file, { leaseSeconds: 12 }), claimFor('/srv', 'taken', file, { leaseSeconds: 12 })];
      const source = new RenewingClaimDouble(actions);
      source.renewer.lostIds.add(actions[1]!.id);

      const seen: { name: string; lost: boolean }[] = [];
      const progress = await runActions({
        source,
        share: 'docs',
        kind: 'tier',
        concurrency: 2,
        claimBatch: 10,
        logger,
        handle: async (action, lease): Promise<ActionResult> => {
          // Long enough for the 12 s lease to pass its half and the next check to renew it.
          await sleep(7500);
          seen.push({ name: action.name, lost: lease.lost });
          return { id: action.id, fence: action.fence, outcome: lease.lost ? 'FAILED' : 'STUBBED', sha256: 'a'.repeat(64), sizeBytes: 1 };
        },
      });

      expect(seen.sort((a, b) => a.name.localeCompare(b.name))).to.deep.equal([
        { name: 'slow', lost: false },
        { name: 'taken', lost: true },
      ]);
      expect(progress.outcomes).to.deep.include({ STUBBED: 1, FAILED: 1 });
      expect(source.renewer.requests.length).to.be.at.least(1);
    });
  });

  describe('after an interrupt', function () {
    it('keeps renewing the file in progress', async function () {
      const action = claimFor('/srv', 'slow', file, { leaseSeconds: 12 });
      const source = new RenewingClaimDouble([action]);
      const interrupt = new AbortController();

      const run = runActions({
        source,
        share: 'docs',
        kind: 'tier',
        concurrency: 1,
        claimBatch: 10,
        logger,
        signal: interrupt.signal,
        handle: async (claimed, lease): Promise<ActionResult> => {
          interrupt.abort(new Error('Interrupted by the test'));
          // The file in hand is finished, as after Ctrl-C, past the half of its lease.
          await sleep(7500);
          return { id: claimed.id, fence: claimed.fence, outcome: lease.lost ? 'FAILED' : 'STUBBED', sha256: 'a'.repeat(64), sizeBytes: 1 };
        },
      });

      // The one action was the last, so the run ends without starting another.
      const progress = await run;
      expect(progress.outcomes.STUBBED).to.equal(1);
      expect(source.renewer.requests.length, 'renewals went on after the interrupt').to.be.at.least(1);
      expect(source.results.map((result) => result.outcome)).to.deep.equal(['STUBBED']);
    });
  });

  describe('before the stub', function () {
    it('stops on a lease that ran out', function () {
      const ranOut = { lost: false, termSeconds: 10, remainingSeconds: () => -0.5 };
      expect(() => throwIfLeaseLost(ranOut, 'the stub was written')).to.throw(/lease ran out before the stub was written/);
      const current = { lost: false, termSeconds: 10, remainingSeconds: () => 4 };
      expect(() => throwIfLeaseLost(current, 'the stub was written')).to.not.throw();
      expect(() => throwIfLeaseLost({ ...current, lost: true }, 'the stub was written')).to.throw(/claimed again/);
    });
  });

  describe('through the API', function () {
    let stack: Stack;
    let tenant: ProvisionedTenant;
    let work: string;

    before(async function () {
      stack = await startStack('agent_renewal');
      tenant = await createTenant(stack, 'acme');
      work = await mkdtemp(path.join(os.tmpdir(), 'strata-lease-'));
    });

    after(async function () {
      await stack?.close();
      await rm(work, { recursive: true, force: true });
    });

    it('keeps a slow copy from other claims', async function () {
      const share = path.join(work, 'share');
      const files = await writeColdFiles(share, [{ relativePath: 'big.bin', size: 50_000 }]);
      await scanAndPlan(stack, tenant, 'slow', share, path.join(work, 'spool'));
      await setTarget(stack.services, tenant, 'slow', { kind: 'fs', root: path.join(work, 'tier2') }, 'test');

      // A store whose put takes 15 s, longer than the agent's 11 s lease.
      const store = new SlowPutStore(path.join(work, 'tier2'), 15_000);
      const run = runTiering({
        serverUrl: stack.api!.url,
        token: tenant.agentToken,
        share: 'slow',
        kind: 'tier',
        leaseSeconds: 11,
        logger,
        openStore: () => store,
      });

      // After the lease would have run out, a second agent finds nothing to claim.
      await sleep(13_000);
      const rival = await claim(stack, tenant.agentToken, { share: 'slow', kind: 'tier', max: 10 });
      expect(rival.status).to.equal(200);
      expect(rival.body.actions, 'the renewed lease keeps the file from other claims').to.deep.equal([]);

      const progress = await run;
      expect(progress.outcomes.STUBBED).to.equal(1);
      expect(progress.rejected).to.equal(0);
      expect((await tierStates(stack, tenant, 'slow')).states).to.deep.equal({ STUBBED: 1 });
      expect(await expectNothingLost(files, store)).to.deep.equal({ originals: 0, stubs: 1 });
      expect((await stat(files[0]!.path)).size).to.be.lessThan(files[0]!.content.length);

      const { rows } = await stack.services.pool.query(`SELECT count(*)::int AS n FROM ${tenant.schemaName}.audit_log WHERE action = 'action.renewed'`);
      expect(rows[0].n).to.be.at.least(1);
    });
  });
});

/** A filesystem store whose put first waits, as a slow network target would. */
class SlowPutStore extends FsStore {
  constructor(
    root: string,
    private readonly delayMs: number,
  ) {
    super(root);
  }

  override async put(key: string, body: Readable | Buffer, options: PutOptions): Promise<void> {
    await sleep(this.delayMs);
    return super.put(key, body, options);
  }
}
