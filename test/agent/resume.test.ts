import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { SpoolManifest } from '../../agent/spool.ts';
import { startAgent, waitFor } from './support/agentProcess.ts';
import { startMockStrataServer, type MockStrataServer } from './support/mockStrataServer.ts';

const TOKEN = 'resume-secret-token-5d21';
const FILE_COUNT = 15;
const CHUNK_ROWS = 3;
const CHUNK_COUNT = FILE_COUNT / CHUNK_ROWS;

describe('agent resume after SIGKILL', function () {
  let server: MockStrataServer;
  let workDir: string;
  let root: string;
  let spoolRoot: string;
  let tokenFile: string;
  let expectedRows: string[];

  function scanArgs(): string[] {
    return [
      'scan', '--server', server.url, '--token-file', tokenFile, '--share', 'finance', '--root', root,
      '--spool', spoolRoot, '--chunk-rows', String(CHUNK_ROWS), '--concurrency', '2', '--quiet',
    ];
  }

  function resumeArgs(...extra: string[]): string[] {
    return ['resume', '--token-file', tokenFile, '--spool', spoolRoot, ...extra];
  }

  async function onlySpoolDir(): Promise<string> {
    const names = await readdir(spoolRoot);
    expect(names).to.have.length(1);
    return path.join(spoolRoot, names[0]!);
  }

  async function readSpoolManifest(spoolDir: string): Promise<SpoolManifest | undefined> {
    try {
      return JSON.parse(await readFile(path.join(spoolDir, 'scan.json'), 'utf8')) as SpoolManifest;
    } catch {
      return undefined;
    }
  }

  /** Returns the folder and name of every row the server stored for a scan, sorted. */
  function storedFiles(scanGuid: string): string[] {
    return server.storedRows(scanGuid).map((row) => `${row[0]}|${row[1]}`).sort();
  }

  function uploadsOf(scanGuid: string, since: number): number[] {
    return server.requests
      .slice(since)
      .filter((request) => request.method === 'PUT' && request.path.startsWith(`/v1/scans/${scanGuid}/chunks/`))
      .map((request) => Number(request.path.split('/').at(-1)))
      .sort((a, b) => a - b);
  }

  beforeEach(async function () {
    server = await startMockStrataServer();
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-agent-resume-'));
    root = path.join(workDir, 'share');
    spoolRoot = path.join(workDir, 'spool');
    tokenFile = path.join(workDir, 'token');
    await writeFile(tokenFile, TOKEN);
    await mkdir(path.join(root, 'sub'), { recursive: true });

    expectedRows = [];
    for (let i = 0; i < FILE_COUNT; i++) {
      const folder = i % 3 === 0 ? path.join(root, 'sub') : root;
      const name = `file-${String(i).padStart(2, '0')}.txt`;
      await writeFile(path.join(folder, name), 'x'.repeat(i));
      expectedRows.push(`${folder}|${name}`);
    }
    expectedRows.sort();
  });

  afterEach(async function () {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('killed mid-upload resends only unacknowledged chunks', async function () {
    const agent = startAgent(scanArgs());
    let spoolDir = '';

    // Chunks 0 and 1 get their responses at once. The first upload of any later chunk is
    // held until the walk has recorded its totals, then the agent is killed. The server
    // still stores that chunk, as a server whose response was lost would.
    let killed = false;
    server.beforeChunkReply = async (seq) => {
      if (seq < 2 || killed) {
        return;
      }
      spoolDir = await onlySpoolDir();
      await waitFor('the walk has finished', async () => (await readSpoolManifest(spoolDir))?.walk !== undefined);
      killed = true;
      agent.child.kill('SIGKILL');
      await agent.exited;
    };

    const first = await agent.exited;
    expect(first.signal).to.equal('SIGKILL');
    const manifest = (await readSpoolManifest(spoolDir))!;
    expect(manifest.walk!.chunkCount).to.equal(CHUNK_COUNT);
    const spoolNames = await readdir(spoolDir);
    const acknowledged = spoolNames.filter((name) => name.endsWith('.ok')).map((name) => Number(/\d+/.exec(name)![0]));
    const unacknowledged = [...Array(CHUNK_COUNT).keys()].filter((seq) => !acknowledged.includes(seq));
    expect(unacknowledged.length).to.be.greaterThan(0);
    expect(server.completedScans.size).to.equal(0);

    server.beforeChunkReply = undefined;
    const requestsBefore = server.requests.length;
    const resumed = await startAgent(resumeArgs()).exited;

    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(resumed.stdout).to.match(new RegExp(`^Resumed \\(${unacknowledged.length} chunks sent\\): Scan ${manifest.scanGuid} COMPLETING: 15 files`));
    expect(uploadsOf(manifest.scanGuid, requestsBefore)).to.deep.equal(unacknowledged);
    expect(server.completedScans.get(manifest.scanGuid)).to.deep.equal({ chunkCount: CHUNK_COUNT, rowCount: FILE_COUNT, unreadableCount: 0 });
    expect(storedFiles(manifest.scanGuid)).to.deep.equal(expectedRows);
    expect(existsSync(spoolDir)).to.equal(false);
    expect(resumed.stdout + resumed.stderr).not.to.contain(TOKEN);

    // The chunks held when the agent died had been stored; sent again, they were replayed, not loaded twice.
    const replayed = [...server.storedChunks.get(manifest.scanGuid)!.entries()].filter(([, chunk]) => chunk.replays > 0);
    expect(replayed.map(([seq]) => seq)).to.include(2);
  });

  it('killed before complete only completes', async function () {
    const agent = startAgent(scanArgs());
    server.beforeCompleteReply = async () => {
      agent.child.kill('SIGKILL');
      await agent.exited;
      return { dropConnection: true };
    };

    const first = await agent.exited;
    expect(first.signal).to.equal('SIGKILL');
    const spoolDir = await onlySpoolDir();
    const manifest = (await readSpoolManifest(spoolDir))!;
    const markers = (await readdir(spoolDir)).filter((name) => name.endsWith('.ok'));
    expect(markers).to.have.length(CHUNK_COUNT);
    expect(server.completedScans.size).to.equal(0);

    server.beforeCompleteReply = undefined;
    const requestsBefore = server.requests.length;
    const resumed = await startAgent(resumeArgs('--scan', manifest.scanGuid)).exited;

    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(uploadsOf(manifest.scanGuid, requestsBefore)).to.deep.equal([]);
    expect(server.completedScans.get(manifest.scanGuid)).to.deep.equal({ chunkCount: CHUNK_COUNT, rowCount: FILE_COUNT, unreadableCount: 0 });
    expect(storedFiles(manifest.scanGuid)).to.deep.equal(expectedRows);
    expect(existsSync(spoolDir)).to.equal(false);
  });

  it('killed mid-walk refuses, then restarts', async function () {
    const agent = startAgent(scanArgs());
    let spoolDir = '';

    // No upload gets a response, so the walk stops at the spool limit and is killed there.
    server.beforeChunkReply = async () => {
      spoolDir = await onlySpoolDir();
      await waitFor('the walk is paused by the spool limit', async () => {
        const names = await readdir(spoolDir);
        return names.filter((name) => name.endsWith('.csv.gz')).length >= 3;
      });
      agent.child.kill('SIGKILL');
      await agent.exited;
    };

    const first = await agent.exited;
    expect(first.signal).to.equal('SIGKILL');
    const manifest = (await readSpoolManifest(spoolDir))!;
    expect(manifest.walk).to.equal(undefined);
    server.beforeChunkReply = undefined;

    const refused = await startAgent(resumeArgs()).exited;

    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain(`The walk of scan ${manifest.scanGuid}`);
    expect(refused.stderr).to.contain('--restart');
    expect(existsSync(spoolDir)).to.equal(true);
    expect(server.completedScans.size).to.equal(0);

    const restarted = await startAgent(resumeArgs('--restart')).exited;

    expect(restarted.code, restarted.stderr).to.equal(0);
    const newGuid = /Scan ([0-9a-f-]{36}) COMPLETING: 15 files/.exec(restarted.stdout)?.[1];
    expect(restarted.stdout).to.match(/^Restarted as a new scan: /);
    expect(newGuid).to.be.a('string').and.not.equal(manifest.scanGuid);
    expect(server.completedScans.get(newGuid!)).to.deep.equal({ chunkCount: CHUNK_COUNT, rowCount: FILE_COUNT, unreadableCount: 0 });
    expect(storedFiles(newGuid!)).to.deep.equal(expectedRows);
    expect(server.completedScans.has(manifest.scanGuid)).to.equal(false);
    expect(await readdir(spoolRoot)).to.deep.equal([]);
  });

  it('damaged scan.json reported, exit 1', async function () {
    const spoolDir = path.join(spoolRoot, '0b7f3a52-3c1e-4d7e-9f51-2a6f0c9d8e41');
    await mkdir(spoolDir, { recursive: true });
    await writeFile(path.join(spoolDir, 'scan.json'), '{"format": 1, "scanGuid": ');

    const result = await startAgent(resumeArgs()).exited;

    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain(`Invalid ${path.join(spoolDir, 'scan.json')}: not JSON`);
    expect(existsSync(spoolDir)).to.equal(true);
    expect(server.requests).to.have.length(0);
  });

  it('nothing to resume exits 0', async function () {
    const result = await startAgent(resumeArgs()).exited;

    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal(`Nothing to resume in ${spoolRoot}.\n`);
    expect(server.requests).to.have.length(0);
  });

  it('resume help describes every option', async function () {
    const result = await startAgent(['resume', '--help']).exited;

    expect(result.code).to.equal(0);
    for (const option of ['--token-file', '--spool', '--scan', '--server', '--restart', '--concurrency', '--max-attempts', '--wait', '--log-level']) {
      expect(result.stdout, option).to.contain(option);
    }
  });
});
