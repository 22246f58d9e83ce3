/**
 * Shared steps of the tiering tests: a tree of cold files with known content, a scan
 * and an applied plan through the real stack, the agent run as a child process, and
 * the check that no file was lost.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { pino } from 'pino';

import { runScan } from '../../../agent/runScan.ts';
import { parseStub, STUB_SIZE_BYTES } from '../../../agent/tiering/stub.ts';
import { planColdFiles } from '../../../src/planning/planColdFiles.ts';
import type { ProvisionedTenant } from '../../../src/tenancy/provisionTenant.ts';
import type { Tier2Store } from '../../../src/tier2/tier2Store.ts';
import type { Stack } from '../../support/stack.ts';

const AGENT_BIN = fileURLToPath(new URL('../../../agent/strata-agent.mjs', import.meta.url));
export const YEAR_SECONDS = 365 * 86_400;

/** A file of the test tree: its path and the content it was written with. */
export interface ColdFile {
  path: string;
  content: Buffer;
  mtimeUnix: number;
}

/** Writes files with the given names and sizes under `root`, all last used two years ago. */
export async function writeColdFiles(root: string, specs: { relativePath: string; size: number }[]): Promise<ColdFile[]> {
  const mtimeUnix = Math.floor(Date.now() / 1000) - 2 * YEAR_SECONDS;
  const files: ColdFile[] = [];
  for (const [index, spec] of specs.entries()) {
    const filePath = path.join(root, spec.relativePath);
    await mkdir(path.dirname(filePath), { recursive: true });
    const content = Buffer.alloc(spec.size);
    for (let offset = 0; offset < spec.size; offset += 64) {
      content.write(`${index}:${offset};`, offset, Math.min(64, spec.size - offset), 'latin1');
    }
    await writeFile(filePath, content);
    await utimes(filePath, mtimeUnix, mtimeUnix + (index % 50));
    files.push({ path: filePath, content, mtimeUnix: mtimeUnix + (index % 50) });
  }
  return files;
}

/** Scans `root` into `share` and applies a plan of the files unused for a year; returns the files planned. */
export async function scanAndPlan(stack: Stack, tenant: ProvisionedTenant, share: string, root: string, spool: string): Promise<void> {
  const summary = await runScan({
    serverUrl: stack.api!.url,
    token: tenant.agentToken,
    shareName: share,
    rootPath: root,
    spoolRoot: spool,
    wait: true,
    logger: pino({ level: 'silent' }),
  });
  expect(summary.status).to.equal('OK');
  await planColdFiles(stack.services.pool, tenant, { share, olderThanSeconds: YEAR_SECONDS, plannedBy: 'test', apply: true });
}

export interface AgentRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `strata-agent` with `args` and extra environment variables, to its end. */
export async function runAgent(args: string[], env: Record<string, string> = {}): Promise<AgentRun> {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * Checks that every file is either its original bytes, or a stub whose Tier-2 object
 * has the original's bytes. Returns how many were of each kind.
 */
export async function expectNothingLost(files: ColdFile[], store: Tier2Store): Promise<{ originals: number; stubs: number }> {
  let originals = 0;
  let stubs = 0;
  for (const file of files) {
    const bytes = await readFile(file.path);
    if (bytes.equals(file.content)) {
      originals++;
      continue;
    }

    // A run killed between writing a stub in place and cutting the file leaves the stub
    // followed by the rest of the original, which the next claim completes.
    const stub = parseStub(bytes.length > STUB_SIZE_BYTES ? bytes.subarray(0, STUB_SIZE_BYTES) : bytes);
    expect(stub, `${file.path} is neither its original content nor a stub`).to.not.equal(undefined);
    expect(stub!.sha256, `stub of ${file.path}`).to.equal(sha256(file.content));
    const chunks: Buffer[] = [];
    for await (const chunk of await store.get(stub!.key)) {
      chunks.push(chunk as Buffer);
    }
    expect(Buffer.concat(chunks).equals(file.content), `Tier-2 object of ${file.path}`).to.equal(true);
    stubs++;
  }
  return { originals, stubs };
}

/** Checks that every file has its original bytes and modification time. */
export async function expectAllOriginal(files: ColdFile[]): Promise<void> {
  for (const file of files) {
    const bytes = await readFile(file.path);
    expect(bytes.equals(file.content), `${file.path} content`).to.equal(true);
    expect(Math.floor((await stat(file.path)).mtimeMs / 1000), `${file.path} mtime`).to.equal(file.mtimeUnix);
  }
}

/** Counts the share's tier objects per state, and files listed more than once. */
export async function tierStates(stack: Stack, tenant: ProvisionedTenant, share: string): Promise<{ states: Record<string, number>; duplicates: number }> {
  const schema = tenant.schemaName;
  const { rows } = await stack.services.pool.query<{ state: string; count: string }>(
    `SELECT state, count(*) AS count FROM ${schema}.tier_object WHERE share_name = $1 GROUP BY state`,
    [share],
  );
  const duplicates = await stack.services.pool.query<{ count: string }>(
    `SELECT count(*) AS count FROM (SELECT 1 FROM ${schema}.tier_object WHERE share_name = $1 GROUP BY dir_hash, name HAVING count(*) > 1) d`,
    [share],
  );
  return { states: Object.fromEntries(rows.map((row) => [row.state, Number(row.count)])), duplicates: Number(duplicates.rows[0]!.count) };
}

/** Ends the leases of the share's claimed objects, as if their time had passed, so a rerun can claim them. */
export async function expireLeases(stack: Stack, tenant: ProvisionedTenant, share: string): Promise<void> {
  const schema = tenant.schemaName;
  await stack.services.pool.query(
    `UPDATE ${schema}.tier_object SET lease_expires_at = extract(epoch from now())::bigint - 1
      WHERE share_name = $1 AND state IN ('IN_PROGRESS', 'RECALLING')`,
    [share],
  );
}

/** Counts, per tier object of the share, the accepted results with `outcome` in the server's result log. */
export async function acceptedResults(stack: Stack, tenant: ProvisionedTenant, share: string, outcome: string): Promise<number[]> {
  const { rows } = await stack.services.pool.query<{ count: string }>(
    `SELECT count(*) AS count FROM ${tenant.schemaName}.tier_result_log WHERE share_name = $1 AND outcome = $2 GROUP BY tier_id`,
    [share, outcome],
  );
  return rows.map((row) => Number(row.count));
}
