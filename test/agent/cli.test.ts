import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startMockStrataServer, type MockStrataServer } from './support/mockStrataServer.ts';

const AGENT_BIN = fileURLToPath(new URL('../../agent/strata-agent.mjs', import.meta.url));
const TOKEN = 'cli-secret-token-93b7';

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the agent executable as a child process, as a user would. */
function runAgent(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('agent command line', function () {
  let server: MockStrataServer;
  let workDir: string;
  let root: string;
  let tokenFile: string;

  function scanArgs(...extra: string[]): string[] {
    return [
      'scan',
      '--server', server.url,
      '--token-file', tokenFile,
      '--share', 'finance',
      '--root', root,
      '--spool', path.join(workDir, 'spool'),
      ...extra,
    ];
  }

  beforeEach(async function () {
    server = await startMockStrataServer();
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-agent-cli-'));
    root = path.join(workDir, 'share');
    tokenFile = path.join(workDir, 'token');
    await mkdir(root);
    await writeFile(path.join(root, 'a.txt'), 'aaa');
    await writeFile(path.join(root, 'b.txt'), 'bb');
    await writeFile(tokenFile, `  ${TOKEN}\n`);
  });

  afterEach(async function () {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('program help lists the scan command', async function () {
    const result = await runAgent(['--help']);

    expect(result.code).to.equal(0);
    expect(result.stdout).to.contain('Usage: strata-agent <command>');
    expect(result.stdout).to.contain('scan ');
  });

  it('scan help describes every option', async function () {
    const result = await runAgent(['scan', '--help']);

    expect(result.code).to.equal(0);
    for (const option of [
      '--server', '--token-file', '--share', '--root', '--spool', '--chunk-rows', '--source-type',
      '--concurrency', '--max-attempts', '--wait', '--log-level', '--quiet',
    ]) {
      expect(result.stdout, option).to.contain(option);
    }
    expect(result.stdout).to.contain('default 250000');
  });

  it('no command exits 2', async function () {
    const result = await runAgent([]);

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('Usage: strata-agent');
  });

  it('unknown command exits 2', async function () {
    const result = await runAgent(['sacn']);

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('unknown command "sacn"');
  });

  it('unknown option exits 2', async function () {
    const result = await runAgent(scanArgs('--bogus'));

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('Unknown option --bogus.');
    expect(server.requests).to.have.length(0);
  });

  it('missing required options exit 2', async function () {
    const result = await runAgent(['scan', '--share', 'finance']);

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('Missing required options --server, --token-file, --root.');
  });

  it('invalid number exits 2', async function () {
    const result = await runAgent(scanArgs('--chunk-rows', 'many'));

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('Invalid --chunk-rows "many"');
    expect(server.requests).to.have.length(0);
  });

  it('empty token file exits 2', async function () {
    await writeFile(tokenFile, ' \n');

    const result = await runAgent(scanArgs());

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('is empty');
  });

  it('scan prints a summary and never the token', async function () {
    const result = await runAgent(scanArgs('--wait', '--log-level', 'debug'));

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^Scan [0-9a-f-]{36} OK: 2 files \(5 B\) in 1 folder, 1 chunk, 0 unreadable, 0 skipped, 0 escaped names, [\d.]+ s\n$/);
    expect(result.stdout + result.stderr).not.to.contain(TOKEN);
    expect(server.requests.every((request) => request.headers.authorization === `Bearer ${TOKEN}`)).to.equal(true);
  });

  it('rejected chunk exits 1 with the server message', async function () {
    server.chunkReplies.set(0, [
      { status: 422, json: { error: { code: 'INVALID_ROW', message: 'bad mtime', line: 3, column: 'mtime_unix' } } },
    ]);

    const result = await runAgent(scanArgs('--quiet'));

    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.contain('HTTP 422 INVALID_ROW: bad mtime (line 3, column mtime_unix)');
    expect(result.stderr).to.contain('The chunk files written so far are kept in');
  });

  it('FAILED status with --wait exits 1', async function () {
    server.getStatuses = ['FAILED'];

    const result = await runAgent(scanArgs('--wait', '--quiet'));

    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/^Scan [0-9a-f-]{36} FAILED: /);
    expect(result.stdout).to.contain('s (found no files where scan 7 found 3)');
  });
});
