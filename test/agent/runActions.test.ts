import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';

import { syncFolder } from '../../agent/durableFile.ts';
import { FolderSyncer } from '../../src/tier2/folderSyncer.ts';
import { NO_OFFLINE_MARKER } from '../../agent/tiering/offlineMarker.ts';
import { OfflineMarking } from '../../agent/tiering/offlineMarking.ts';
import { runActions } from '../../agent/tiering/runActions.ts';
import { parseStub } from '../../agent/tiering/stub.ts';
import { tierFile } from '../../agent/tiering/tierFile.ts';
import type { ActionResult, ClaimedAction } from '../../src/wire/acting.ts';
import { ClaimDouble, claimFor } from './support/claimDouble.ts';
import { CountingFsStore } from './support/countingStore.ts';

const logger = pino({ level: 'silent' });

function plainActions(count: number): ClaimedAction[] {
  return Array.from({ length: count }, (_, index) => claimFor('/srv', `f${index}`, { sizeBytes: 1, mtimeUnix: 1, fileId: null }));
}

describe('agent action loop', function () {
  it('claims in batches and reports every result', async function () {
    const source = new ClaimDouble(plainActions(250));
    let running = 0;
    let maxRunning = 0;

    const progress = await runActions({
      source,
      share: 'docs',
      kind: 'tier',
      concurrency: 4,
      claimBatch: 40,
      resultBatch: 100,
      logger,
      handle: async (action): Promise<ActionResult> => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 1));
        running--;
        return { id: action.id, fence: action.fence, outcome: 'STUBBED', sha256: '0'.repeat(64), sizeBytes: 1 };
      },
    });

    expect(progress.claimed).to.equal(250);
    expect(progress.outcomes.STUBBED).to.equal(250);
    expect(new Set(source.results.map((result) => result.id)).size).to.equal(250);
    expect(source.claims.every((claim) => claim.max === 40 && claim.share === 'docs' && claim.kind === 'tier')).to.equal(true);
    expect(Math.max(...source.batches)).to.be.at.most(100);
    expect(source.batches.length).to.be.at.most(4);
    expect(maxRunning).to.equal(4);
  });

  it('skips actions whose lease is ending', async function () {
    const actions = plainActions(3);
    // The agent times a lease by the length granted, not by the server's clock. A 2 s
    // lease keeps 1 s as its margin, and this double renews nothing, so the second
    // action, waiting behind a first that takes 1.2 s, is skipped.
    actions[1]!.leaseSeconds = 2;
    const source = new ClaimDouble(actions);

    const progress = await runActions({
      source,
      share: 'docs',
      kind: 'tier',
      concurrency: 1,
      claimBatch: 10,
      logger,
      handle: async (action) => {
        if (action.id === actions[0]!.id) await new Promise((resolve) => setTimeout(resolve, 1200));
        return { id: action.id, fence: action.fence, outcome: 'STALE', error: 'test' };
      },
    });

    expect(progress.expired).to.equal(1);
    expect(source.results.map((result) => result.id)).to.not.include(actions[1]!.id);
    expect(progress.outcomes.STALE).to.equal(2);
  });

  it('counts results the server rejected', async function () {
    const actions = plainActions(5);
    const source = new ClaimDouble(actions);
    source.rejectIds.add(actions[2]!.id);

    const progress = await runActions({
      source,
      share: 'docs',
      kind: 'recall',
      pattern: '/srv/**',
      concurrency: 2,
      claimBatch: 10,
      logger,
      handle: async (action) => ({ id: action.id, fence: action.fence, outcome: 'REHYDRATED', sha256: '0'.repeat(64), sizeBytes: 1 }),
    });

    expect(progress.accepted).to.equal(4);
    expect(progress.rejected).to.equal(1);
    expect(source.claims[0]).to.include({ kind: 'recall', pattern: '/srv/**' });
  });

  it('stops after max actions', async function () {
    const source = new ClaimDouble(plainActions(30));

    const progress = await runActions({
      source,
      share: 'docs',
      kind: 'tier',
      concurrency: 3,
      claimBatch: 8,
      maxActions: 12,
      logger,
      handle: async (action) => ({ id: action.id, fence: action.fence, outcome: 'STALE' }),
    });

    expect(progress.claimed).to.equal(12);
    expect(source.waiting).to.have.length(18);
  });

  it('claim failure ends the run after reporting', async function () {
    const source = new ClaimDouble(plainActions(5));
    const claim = source.claimActions.bind(source);
    let calls = 0;
    source.claimActions = async (request) => {
      calls++;
      if (calls > 1) {
        throw new Error('server gone');
      }
      return claim(request);
    };

    const run = runActions({
      source,
      share: 'docs',
      kind: 'tier',
      concurrency: 2,
      claimBatch: 5,
      logger,
      handle: async (action) => ({ id: action.id, fence: action.fence, outcome: 'STALE' }),
    });

    let failure: Error | undefined;
    try {
      await run;
    } catch (error) {
      failure = error as Error;
    }
    expect(failure?.message).to.equal('server gone');
    expect(source.results).to.have.length(5);
  });

  it('tiers a folder of files through the loop', async function () {
    const root = await mkdtemp(path.join(os.tmpdir(), 'strata-loop-'));
    const share = path.join(root, 'share');
    await mkdir(share);
    const actions: ClaimedAction[] = [];
    for (let index = 0; index < 40; index++) {
      const name = `file-${index}.txt`;
      await writeFile(path.join(share, name), `content ${index}`);
      const { lstatSync } = await import('node:fs');
      const stats = lstatSync(path.join(share, name), { bigint: true });
      actions.push(claimFor(share, name, { sizeBytes: Number(stats.size), mtimeUnix: Number(stats.mtimeNs / 1_000_000_000n), fileId: stats.ino.toString() }));
    }
    const source = new ClaimDouble(actions);
    const store = new CountingFsStore(path.join(root, 'tier2'));

    const progress = await runActions({
      source,
      share: 'docs',
      kind: 'tier',
      concurrency: 8,
      claimBatch: 16,
      logger,
      handle: (action) => tierFile(action, { store, logger, folders: new FolderSyncer(syncFolder), offline: new OfflineMarking(NO_OFFLINE_MARKER, logger) }),
    });

    expect(progress.outcomes.STUBBED).to.equal(40);
    for (const action of actions) {
      const stub = parseStub(await readFile(path.join(share, action.name)));
      expect(stub?.key).to.equal(action.tier2Key);
    }
    await rm(root, { recursive: true, force: true });
  });
});

describe('agent folder syncer', function () {
  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('renames during a flush share the next', async function () {
    const flushes: { folder: string; finish: () => void }[] = [];
    const syncer = new FolderSyncer(
      (folder) => new Promise<void>((resolve) => flushes.push({ folder: String(folder), finish: resolve })),
    );

    const first = syncer.sync('/a');
    await nextTurn();
    await nextTurn();
    expect(flushes.map((flush) => flush.folder)).to.deep.equal(['/a']);

    // Both arrive while the first flush runs, so one more flush covers both.
    const second = syncer.sync('/a');
    const third = syncer.sync('/a');
    const other = syncer.sync('/b');
    await nextTurn();
    await nextTurn();
    expect(flushes.map((flush) => flush.folder)).to.deep.equal(['/a', '/b']);

    flushes[0]!.finish();
    flushes[1]!.finish();
    await first;
    await other;
    for (let turn = 0; turn < 5 && flushes.length < 3; turn++) {
      await nextTurn();
    }
    expect(flushes.map((flush) => flush.folder)).to.deep.equal(['/a', '/b', '/a']);

    flushes[2]!.finish();
    await Promise.all([second, third]);
    expect(flushes).to.have.length(3);
  });
});
