import { expect } from 'chai';
import { lstatSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';

import { OfflineHelperMarker, type OfflineMarker } from '../../agent/tiering/offlineMarker.ts';
import { runTiering } from '../../agent/tiering/runTiering.ts';
import { AzureBlobStore } from '../../src/tier2/azureBlobStore.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { S3Store } from '../../src/tier2/s3Store.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import type { ClaimedAction } from '../../src/wire/acting.ts';
import { startAzurite } from '../support/azurite.ts';
import { startS3Server } from '../support/s3Server.ts';
import { claimFor } from './support/claimDouble.ts';
import { writeFakeHelper } from './support/fakeOfflineHelper.ts';

const logger = pino({ level: 'silent' });

const NO_MARKER: OfflineMarker = { mark: async () => undefined, close: async () => undefined };

/**
 * Serves the three calls of an act run on 127.0.0.1: the share's target, claims that
 * hand out `actions` once (or fail with `claimStatus`), and results, all accepted.
 */
async function startActServer(actions: ClaimedAction[], claimStatus = 200): Promise<{ server: Server; url: string }> {
  let waiting = [...actions];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      response.setHeader('content-type', 'application/json');
      if (request.method === 'GET' && request.url === '/v1/shares/docs/target') {
        response.end(JSON.stringify({ kind: 'fs' }));
      } else if (request.method === 'POST' && request.url === '/v1/actions/claim') {
        response.statusCode = claimStatus;
        response.end(JSON.stringify(claimStatus === 200 ? { actions: waiting } : { code: 'INVALID_REQUEST', message: 'claim rejected by the test' }));
        waiting = [];
      } else if (request.method === 'POST' && request.url === '/v1/actions/results') {
        const { results } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { results: { id: string }[] };
        response.end(JSON.stringify({ results: results.map((result) => ({ id: result.id, accepted: true })) }));
      } else {
        response.statusCode = 404;
        response.end(JSON.stringify({ code: 'NOT_FOUND', message: `${request.method} ${request.url}` }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('agent act run', function () {
  let root: string;
  let server: Server | undefined;

  beforeEach(async function () {
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-act-offline-'));
    server = undefined;
  });

  afterEach(async function () {
    await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
    if (this.currentTest?.state === 'passed') {
      await rm(root, { recursive: true, force: true });
    }
  });

  /** Runs one act of share `docs` against the test server at `url`, storing Tier-2 objects under the test root. */
  function actOnDocs(url: string, offlineMarker: OfflineMarker): ReturnType<typeof runTiering> {
    return runTiering({
      serverUrl: url,
      token: 'test-token',
      share: 'docs',
      kind: 'tier',
      logger,
      retry: { maxAttempts: 1 },
      openStore: () => new FsStore(path.join(root, 'tier2')),
      offlineMarker,
    });
  }

  it('marks stubs, closes the helper', async function () {
    const share = path.join(root, 'share');
    await mkdir(share);
    const filePath = path.join(share, 'cold.txt');
    await writeFile(filePath, 'cold '.repeat(2000));
    const stats = lstatSync(filePath, { bigint: true });
    const action = claimFor(share, 'cold.txt', { sizeBytes: Number(stats.size), mtimeUnix: Number(stats.mtimeNs / 1_000_000_000n), fileId: stats.ino.toString() });
    const started = await startActServer([action]);
    server = started.server;
    const helperFolder = path.join(root, 'helper');
    await mkdir(helperFolder);
    const fake = await writeFakeHelper(helperFolder, { exitDelayMs: 200 });

    const progress = await actOnDocs(started.url, new OfflineHelperMarker(fake.options));

    expect(progress.outcomes.STUBBED).to.equal(1);
    expect(progress.unmarked).to.equal(0);
    expect(await fake.recorded()).to.deep.equal([filePath]);
    // The run returned only after the helper exited at the end of its input.
    expect(fake.exitedNormally()).to.equal(true);
  });

  it('failed run still closes the marker', async function () {
    const started = await startActServer([], 400);
    server = started.server;
    let closes = 0;
    const marker: OfflineMarker = {
      mark: async () => undefined,
      close: async () => {
        closes++;
      },
    };

    const failure = await actOnDocs(started.url, marker).catch((error: unknown) => error as Error);

    expect(failure).to.be.instanceOf(Error);
    expect((failure as Error).message).to.match(/^Server rejected claiming tier actions of share docs: HTTP 400/);
    expect(closes).to.equal(1);
  });

  it('unusable target stops before claiming', async function () {
    const url = await oneAction();

    const unreachable = new FsStore(path.join(root, 'tier2'));
    unreachable.head = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:9 (test)');
    };
    const failure = await actWith(url, unreachable).catch((error: unknown) => error as Error);
    expect(failure).to.be.instanceOf(Error);
    expect((failure as Error).message).to.contain('the Tier-2 target of share docs (fs) is unusable: connect ECONNREFUSED');
    expect((failure as Error).message).to.contain('no file was claimed');

    // The test server hands its actions out once, so a later run finding the file proves the first claimed none.
    const progress = await actOnDocs(url, NO_MARKER);
    expect(progress.claimed).to.equal(1);
    expect(progress.outcomes.STUBBED).to.equal(1);
  });

  /** Writes one file of share `docs` and starts a test server that hands out its action once; returns the server's URL. */
  async function oneAction(): Promise<string> {
    const share = path.join(root, 'share');
    await mkdir(share);
    await writeFile(path.join(share, 'kept.txt'), 'kept');
    const stats = lstatSync(path.join(share, 'kept.txt'), { bigint: true });
    const action = claimFor(share, 'kept.txt', { sizeBytes: 4, mtimeUnix: Number(stats.mtimeNs / 1_000_000_000n), fileId: stats.ino.toString() });
    const started = await startActServer([action]);
    server = started.server;
    return started.url;
  }

  function actWith(url: string, store: Tier2Store): ReturnType<typeof runTiering> {
    return runTiering({ serverUrl: url, token: 't', share: 'docs', kind: 'tier', logger, retry: { maxAttempts: 1 }, openStore: () => store, offlineMarker: NO_MARKER });
  }

  // A HEAD of a key in a missing bucket or container gets the same 404 as a missing key,
  // so a probe by head alone let these runs claim every file and fail each one.
  it('missing bucket or container stops before claiming', async function () {
    const url = await oneAction();
    const s3 = await startS3Server();
    const azurite = await startAzurite();
    try {
      const unusable: Tier2Store[] = [
        new S3Store({ ...s3.config, bucket: 'no-such-bucket' }),
        new AzureBlobStore({ ...azurite.config, container: 'no-such-container' }),
      ];
      for (const store of unusable) {
        const failure = await actWith(url, store).catch((error: unknown) => error as Error);
        expect(failure, store.kind).to.be.instanceOf(Error);
        expect((failure as Error).message).to.contain(`the Tier-2 target of share docs (${store.kind}) is unusable`);
      }

      // None of those runs claimed the one action, which the server hands out once.
      const progress = await actWith(url, new S3Store(s3.config));
      expect(progress.claimed).to.equal(1);
      expect(progress.outcomes.STUBBED).to.equal(1);
    } finally {
      await azurite.stop();
      await s3.stop();
    }
  });

  it('file as fs root stops before claiming', async function () {
    const url = await oneAction();
    const fileRoot = path.join(root, 'tier2-is-a-file');
    await writeFile(fileRoot, 'not a folder');

    const failure = await actWith(url, new FsStore(fileRoot)).catch((error: unknown) => error as Error);
    expect(failure).to.be.instanceOf(Error);
    expect((failure as Error).message).to.contain(`Tier-2 root ${fileRoot} is not a folder`);
  });

  it('empty targets pass the probe', async function () {
    const s3 = await startS3Server();
    const azurite = await startAzurite();
    try {
      const empty: Tier2Store[] = [new S3Store(s3.config), new AzureBlobStore(azurite.config), new FsStore(path.join(root, 'not', 'made', 'yet'))];
      for (const store of empty) {
        const started = await startActServer([]);
        try {
          const progress = await actWith(started.url, store);
          expect(progress.claimed, store.kind).to.equal(0);
        } finally {
          await new Promise((resolve) => started.server.close(resolve));
        }
      }
    } finally {
      await azurite.stop();
      await s3.stop();
    }
  });
});
