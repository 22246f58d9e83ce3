import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { SpoolManifest } from '../../agent/spool.ts';
import type { ScanView } from '../../src/wire/contract.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { fileRows } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { startAgent, waitFor } from './support/agentProcess.ts';

const FILE_COUNT = 20;
const CHUNK_ROWS = 4;

/**
 * Starts a forwarding proxy in front of the real API. For each request it first gets the
 * API's response, and `holdReply` can then keep it from the agent, as when the agent
 * dies after the server committed a chunk.
 */
async function startProxy(apiUrl: string, holdReply: (method: string, url: string) => Promise<boolean>): Promise<{ url: string; server: Server }> {
  const server = createServer((incoming, response) => {
    const parts: Buffer[] = [];
    incoming.on('data', (part: Buffer) => parts.push(part));
    incoming.on('end', () => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const name of ['authorization', 'content-type', 'content-encoding', 'accept']) {
          const value = incoming.headers[name];
          if (typeof value === 'string') {
            headers[name] = value;
          }
        }
        const method = incoming.method ?? 'GET';
        const upstream = await fetch(new URL(incoming.url ?? '/', apiUrl), {
          method,
          headers,
          body: method === 'GET' ? undefined : Buffer.concat(parts),
        });
        const body = Buffer.from(await upstream.arrayBuffer());

        if (await holdReply(method, incoming.url ?? '')) {
          response.socket?.destroy();
          return;
        }
        const replyHeaders: Record<string, string> = { 'content-type': upstream.headers.get('content-type') ?? 'application/json' };
        const retryAfter = upstream.headers.get('retry-after');
        if (retryAfter !== null) {
          replyHeaders['retry-after'] = retryAfter;
        }
        response.writeHead(upstream.status, replyHeaders);
        response.end(body);
      })().catch(() => response.socket?.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('agent resume against the real stack', function () {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let workDir: string;
  let root: string;
  let spoolRoot: string;
  let tokenFile: string;

  before(async function () {
    stack = await startStack('agent_resume');
    tenant = await createTenant(stack, 'resume');
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-agent-resume-stack-'));
    root = path.join(workDir, 'share');
    spoolRoot = path.join(workDir, 'spool');
    tokenFile = path.join(workDir, 'token');
    await writeFile(tokenFile, tenant.agentToken);
    await mkdir(path.join(root, 'folder, with comma'), { recursive: true });
    for (let i = 0; i < FILE_COUNT; i++) {
      const folder = i % 2 === 0 ? root : path.join(root, 'folder, with comma');
      await writeFile(path.join(folder, `file ${i}.txt`), 'y'.repeat(i));
    }
  });

  after(async function () {
    await stack?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('killed mid-upload, every row stored once', async function () {
    let spoolDir = '';
    let killed = false;
    const agentHolder: { stop?: () => Promise<void> } = {};

    // Chunks 0 and 1 go through. The API's response to the first later chunk is held back
    // until the walk has recorded its totals. Then the agent is killed and never sees it.
    const proxy = await startProxy(stack.api!.url, async (method, url) => {
      const seq = /\/chunks\/(\d+)$/.exec(url)?.[1];
      if (method !== 'PUT' || seq === undefined || Number(seq) < 2) {
        return false;
      }
      if (!killed) {
        killed = true;
        spoolDir = path.join(spoolRoot, (await readdir(spoolRoot))[0]!);
        await waitFor('the walk has finished', async () => {
          const text = await readFile(path.join(spoolDir, 'scan.json'), 'utf8').catch(() => '{}');
          return (JSON.parse(text) as Partial<SpoolManifest>).walk !== undefined;
        });
        await agentHolder.stop!();
      }
      return true;
    });

    try {
      const agent = startAgent([
        'scan', '--server', proxy.url, '--token-file', tokenFile, '--share', 'resumed', '--root', root,
        '--spool', spoolRoot, '--chunk-rows', String(CHUNK_ROWS), '--concurrency', '2', '--quiet',
      ]);
      agentHolder.stop = async () => {
        agent.child.kill('SIGKILL');
        await agent.exited;
      };
      const first = await agent.exited;
      expect(first.signal).to.equal('SIGKILL');
    } finally {
      proxy.server.closeAllConnections();
      await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
    }

    const manifest = JSON.parse(await readFile(path.join(spoolDir, 'scan.json'), 'utf8')) as SpoolManifest;
    expect(manifest.walk!.chunkCount).to.equal(FILE_COUNT / CHUNK_ROWS);

    // The recorded server is the proxy, which is gone; --server points resume at the API.
    const resumed = await startAgent([
      'resume', '--token-file', tokenFile, '--spool', spoolRoot, '--server', stack.api!.url, '--wait',
    ]).exited;

    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(resumed.stdout).to.contain(`Scan ${manifest.scanGuid} OK: 20 files`);
    const response = await fetch(new URL(`v1/scans/${manifest.scanGuid}`, `${stack.api!.url}/`), {
      headers: { authorization: `Bearer ${tenant.agentToken}` },
    });
    const view = (await response.json()) as ScanView;
    expect(view.rowsReceived).to.equal(FILE_COUNT);
    expect(view.fileCount).to.equal(FILE_COUNT);
    expect(view.chunksReceived).to.equal(FILE_COUNT / CHUNK_ROWS);

    const rows = await fileRows(stack, 't_resume', manifest.scanGuid);
    expect(rows).to.have.length(FILE_COUNT);
    expect(new Set(rows.map((row) => row.split('|').slice(0, 2).join('|'))).size).to.equal(FILE_COUNT);
  });
});
