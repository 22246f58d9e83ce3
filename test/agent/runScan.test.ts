import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';

import { ApiRequestError } from '../../agent/apiClient.ts';
import { runScan, ScanFailedError, ScanOptionError, type RunScanOptions, type ScanProgress } from '../../agent/main.ts';
import { CHUNK_IN_FLIGHT, type CompleteScanRequest, type OpenScanRequest } from '../../src/wire/contract.ts';
import { captureLogger, WARN_LEVEL, type LogRecord } from './support/captureLogger.ts';
import { startMockStrataServer, type MockStrataServer } from './support/mockStrataServer.ts';

const TOKEN = 'test-token-6f1c2a';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const COMPLETE_POST = /\/complete$/;

describe('agent runScan against a mock server', function () {
  let server: MockStrataServer;
  let workDir: string;
  let root: string;
  let spoolRoot: string;
  let logRecords: LogRecord[];

  /** Options for a fast scan: small chunks and millisecond backoff. */
  function scanOptions(overrides: Partial<RunScanOptions> = {}): RunScanOptions {
    const { logger, records } = captureLogger();
    logRecords = records;
    return {
      serverUrl: server.url,
      token: TOKEN,
      shareName: 'finance',
      rootPath: root,
      spoolRoot,
      chunkRows: 3,
      concurrency: 2,
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
      pollIntervalMs: 5,
      logger,
      ...overrides,
    };
  }

  async function createFiles(count: number): Promise<void> {
    await mkdir(path.join(root, 'sub'), { recursive: true });
    for (let i = 0; i < count; i++) {
      const folder = i % 2 === 0 ? root : path.join(root, 'sub');
      await writeFile(path.join(folder, `file-${i}.txt`), 'x'.repeat(i));
    }
  }

  function completeBody(): CompleteScanRequest {
    const requests = server.requestsTo('POST', COMPLETE_POST);
    expect(requests).to.have.length(1);
    return JSON.parse(requests[0]!.body.toString('utf8')) as CompleteScanRequest;
  }

  beforeEach(async function () {
    server = await startMockStrataServer();
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-agent-run-'));
    root = path.join(workDir, 'share');
    spoolRoot = path.join(workDir, 'spool');
    await mkdir(root);
  });

  afterEach(async function () {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('opens, uploads every chunk and completes with totals', async function () {
    await createFiles(7);

    const summary = await runScan(scanOptions());

    const open = server.requestsTo('POST', /^\/v1\/scans$/);
    expect(open).to.have.length(1);
    const openBody = JSON.parse(open[0]!.body.toString('utf8')) as OpenScanRequest;
    expect(openBody.scanGuid).to.match(UUID);
    expect(openBody.scanGuid).to.equal(summary.scanGuid);
    expect(openBody.shareName).to.equal('finance');
    expect(openBody.rootPath).to.equal(root);
    expect(openBody.pathStyle).to.equal(process.platform === 'win32' ? 'windows' : 'posix');
    expect(openBody.sourceType).to.equal(process.platform === 'win32' ? 'NTFS' : 'POSIX');
    expect(Number.isInteger(openBody.startedAt)).to.equal(true);

    const puts = server.chunkRequests();
    expect(puts.map((request) => request.path.split('/').pop()).sort()).to.deep.equal(['0', '1', '2']);
    for (const put of puts) {
      expect(put.method).to.equal('PUT');
      expect(put.headers['content-type']).to.equal('text/csv');
      expect(put.headers['content-encoding']).to.equal('gzip');
      expect(put.headers['content-length']).to.equal(String(put.body.length));
      expect(gunzipSync(put.body).toString('utf8')).to.match(/^dir_path,name,size_bytes,/);
    }

    expect(completeBody()).to.deep.equal({ chunkCount: 3, rowCount: 7, unreadableCount: 0 });
    expect(summary).to.include({ files: 7, dirs: 2, chunks: 3, unreadable: 0, skipped: 0, status: 'COMPLETING' });
    expect(summary.bytes).to.equal(21);
  });

  it('escaped name uploaded and counted', async function () {
    if (process.platform !== 'linux') {
      // Windows and macOS file systems store names as Unicode and reject such a name.
      this.skip();
    }
    await writeFile(path.join(root, 'plain.txt'), 'p');
    await writeFile(Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'cafe');

    const summary = await runScan(scanOptions());

    expect(summary).to.include({ files: 2, escaped: 1, unreadable: 0 });
    const rows = server.storedRows(summary.scanGuid).map((row) => row[1]).sort();
    expect(rows).to.deep.equal(['/caf%E9.txt', 'plain.txt']);
    expect(completeBody()).to.deep.equal({ chunkCount: 1, rowCount: 2, unreadableCount: 0 });
    const warnings = logRecords.filter((record) => record.level === WARN_LEVEL && record.name === '/caf%E9.txt');
    expect(warnings).to.have.length(1);
  });

  it('sends the bearer token on every request', async function () {
    await createFiles(4);

    await runScan(scanOptions({ wait: true }));

    expect(server.requests.length).to.be.at.least(5);
    for (const request of server.requests) {
      expect(request.headers.authorization, `${request.method} ${request.path}`).to.equal(`Bearer ${TOKEN}`);
    }
    expect(JSON.stringify(logRecords)).not.to.contain(TOKEN);
  });

  it('removes the spool folder after completing', async function () {
    await createFiles(4);

    const summary = await runScan(scanOptions());

    expect(existsSync(path.join(spoolRoot, summary.scanGuid))).to.equal(false);
  });

  it('retries a 503 then succeeds', async function () {
    await createFiles(2);
    server.chunkReplies.set(0, [{ status: 503, json: { error: { code: 'UNAVAILABLE', message: 'restarting' } } }]);

    const summary = await runScan(scanOptions());

    expect(server.chunkRequests(0)).to.have.length(2);
    expect(server.chunkRequests(0)[1]!.body.equals(server.chunkRequests(0)[0]!.body)).to.equal(true);
    expect(completeBody()).to.deep.equal({ chunkCount: 1, rowCount: 2, unreadableCount: 0 });
    expect(summary.status).to.equal('COMPLETING');
  });

  it('retries a dropped connection', async function () {
    await createFiles(2);
    server.chunkReplies.set(0, [{ dropConnection: true }]);

    await runScan(scanOptions());

    expect(server.chunkRequests(0)).to.have.length(2);
    expect(server.requestsTo('POST', COMPLETE_POST)).to.have.length(1);
  });

  it('retries 409 CHUNK_IN_FLIGHT after Retry-After', async function () {
    await createFiles(2);
    server.chunkReplies.set(0, [
      {
        status: 409,
        headers: { 'retry-after': '1' },
        json: { error: { code: CHUNK_IN_FLIGHT, message: 'chunk 0 is still being received' } },
      },
    ]);

    await runScan(scanOptions());

    expect(server.chunkRequests(0)).to.have.length(2);
    const retries = logRecords.filter((record) => record.level === WARN_LEVEL && record.seq === 0);
    expect(retries).to.have.length(1);
    expect(retries[0]!.delayMs).to.equal(1000);
    expect(server.requestsTo('POST', COMPLETE_POST)).to.have.length(1);
  });

  it('other 409 is final', async function () {
    await createFiles(2);
    server.chunkReplies.set(0, [{ status: 409, json: { error: { code: 'CHUNK_CONFLICT', message: 'different bytes' } } }]);

    const error = await runScan(scanOptions()).then(
      () => undefined,
      (failure: unknown) => failure,
    );

    expect(error).to.be.instanceOf(ScanFailedError);
    expect(server.chunkRequests(0)).to.have.length(1);
  });

  it('422 stops with the server message', async function () {
    await createFiles(5);
    server.chunkReplies.set(0, [
      {
        status: 422,
        json: { error: { code: 'INVALID_ROW', message: 'size_bytes is not a number', line: 2, column: 'size_bytes' } },
      },
    ]);

    const error = await runScan(scanOptions({ concurrency: 1 })).then(
      () => undefined,
      (failure: unknown) => failure,
    );

    expect(error).to.be.instanceOf(ScanFailedError);
    const failure = error as ScanFailedError;
    expect(failure.message).to.contain('HTTP 422 INVALID_ROW: size_bytes is not a number');
    expect(failure.message).to.contain('line 2, column size_bytes');
    expect(failure.cause).to.be.instanceOf(ApiRequestError);
    expect((failure.cause as ApiRequestError).status).to.equal(422);
    expect((failure.cause as ApiRequestError).line).to.equal(2);
    expect(server.chunkRequests(0)).to.have.length(1);
    expect(server.requestsTo('POST', COMPLETE_POST)).to.have.length(0);

    // The spool stays so the rejected chunk can be inspected.
    expect(failure.spoolDir).to.equal(path.join(spoolRoot, failure.scanGuid));
    expect(await readdir(failure.spoolDir!)).to.include('chunk-000000.csv.gz');
  });

  it('gives up after max attempts', async function () {
    await createFiles(2);
    const unavailable = { status: 503, json: { error: { code: 'UNAVAILABLE', message: 'down' } } };
    server.chunkReplies.set(0, [unavailable, unavailable, unavailable, unavailable]);

    const error = await runScan(scanOptions({ retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } })).then(
      () => undefined,
      (failure: unknown) => failure,
    );

    expect(error).to.be.instanceOf(ScanFailedError);
    expect((error as Error).message).to.contain('after 3 attempts');
    expect((error as Error).message).to.contain('HTTP 503 UNAVAILABLE: down');
    expect(server.chunkRequests(0)).to.have.length(3);
  });

  it('keeps at most concurrency + 2 chunks waiting', async function () {
    await createFiles(20);
    const concurrency = 1;
    const waitingCounts: number[] = [];
    let spoolDir = '';
    server.beforeChunkReply = async () => {
      const names = await readdir(spoolDir);
      waitingCounts.push(names.filter((name) => name.endsWith('.csv.gz')).length);

      // A slow response lets the walk run ahead until the limit pauses it.
      await sleep(20);
    };

    await runScan(
      scanOptions({
        chunkRows: 1,
        concurrency,
        onProgress: (progress) => {
          spoolDir = path.join(spoolRoot, progress.scanGuid);
        },
      }),
    );

    expect(waitingCounts).to.have.length(20);
    expect(Math.max(...waitingCounts)).to.be.at.most(concurrency + 2);
    expect(completeBody()).to.deep.equal({ chunkCount: 20, rowCount: 20, unreadableCount: 0 });
  });

  it('wait polls until OK', async function () {
    await createFiles(1);
    server.getStatuses = ['COMPLETING', 'COMPLETING', 'OK'];

    const summary = await runScan(scanOptions({ wait: true }));

    expect(summary.status).to.equal('OK');
    expect(server.requestsTo('GET', /^\/v1\/scans\/[^/]+$/)).to.have.length(3);
  });

  it('wait returns FAILED status', async function () {
    await createFiles(1);
    server.getStatuses = ['FAILED'];

    const summary = await runScan(scanOptions({ wait: true }));

    expect(summary.status).to.equal('FAILED');
  });

  it('empty tree completes with zero chunks', async function () {
    const summary = await runScan(scanOptions());

    expect(server.chunkRequests()).to.have.length(0);
    expect(completeBody()).to.deep.equal({ chunkCount: 0, rowCount: 0, unreadableCount: 0 });
    expect(summary.files).to.equal(0);
  });

  it('reports progress phases in order', async function () {
    await createFiles(4);
    const phases: string[] = [];
    const snapshots: ScanProgress[] = [];

    await runScan(
      scanOptions({
        wait: true,
        onProgress: (progress) => {
          snapshots.push(progress);
          if (phases.at(-1) !== progress.phase) {
            phases.push(progress.phase);
          }
        },
      }),
    );

    expect(phases).to.deep.equal(['opening', 'walking', 'uploading', 'completing', 'waiting', 'done']);
    expect(snapshots.at(-1)).to.include({ files: 4, chunksWritten: 2, chunksSent: 2 });
  });

  it('missing root rejected before any request', async function () {
    const error = await runScan(scanOptions({ rootPath: path.join(workDir, 'missing') })).then(
      () => undefined,
      (failure: unknown) => failure,
    );

    expect(error).to.be.instanceOf(ScanOptionError);
    expect((error as Error).message).to.contain('ENOENT');
    expect(server.requests).to.have.length(0);
  });

  it('invalid option rejected before any request', async function () {
    const error = await runScan(scanOptions({ concurrency: 0 })).then(
      () => undefined,
      (failure: unknown) => failure,
    );

    expect(error).to.be.instanceOf(ScanOptionError);
    expect((error as Error).message).to.contain('Invalid concurrency 0');
    expect(server.requests).to.have.length(0);
  });

  it('abort signal stops the scan and keeps the spool', async function () {
    await createFiles(6);
    const controller = new AbortController();
    server.beforeChunkReply = () => controller.abort(new Error('cancelled by test'));

    const error = await runScan(scanOptions({ signal: controller.signal })).then(
      () => undefined,
      (failure: unknown) => failure,
    );

    expect(error).to.be.instanceOf(ScanFailedError);
    expect((error as Error).message).to.contain('cancelled by test');
    expect(server.requestsTo('POST', COMPLETE_POST)).to.have.length(0);
    expect(existsSync((error as ScanFailedError).spoolDir!)).to.equal(true);
  });
});
