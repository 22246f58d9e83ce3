import { mkdir, mkdtemp, rm, symlink, utimes, writeFile, lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { runScan } from '../../agent/main.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { fileRows } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('agent to server round trip', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let root: string;
  let spool: string;
  const expected: string[] = [];

  const TWO_YEARS_AGO = Math.floor(Date.now() / 1000) - 2 * 365 * 86_400;

  before(async () => {
    stack = await startStack('agent_e2e');
    tenant = await createTenant(stack, 'acme');
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-e2e-tree-'));
    spool = await mkdtemp(path.join(os.tmpdir(), 'strata-e2e-spool-'));

    const folders = ['', 'Ünïcödé folder', 'Ünïcödé folder/deeper level', 'Ünïcödé folder/deeper level/漢字', 'a, b & "c"'];
    const names = ['plain.txt', 'with  spaces .txt', 'café.txt', 'cafe\u0301.txt', '😀.png', 'quote"d.txt'];
    let size = 1;
    for (const folder of folders) {
      const dir = path.join(root, folder);
      await mkdir(dir, { recursive: true });
      for (const name of names) {
        const file = path.join(dir, name);
        await writeFile(file, Buffer.alloc(size++));
        if (name === 'plain.txt') await utimes(file, TWO_YEARS_AGO, TWO_YEARS_AGO);
        const stat = await lstat(file, { bigint: true });
        expected.push([dir, name, String(stat.size), String(stat.atimeMs / 1000n), String(stat.mtimeMs / 1000n), String(stat.ctimeMs / 1000n)].join('|'));
      }
    }
    // Links are never followed, so the loop back to the root adds nothing.
    await symlink(root, path.join(root, 'Ünïcödé folder', 'loop'));
    expected.sort();
  });

  after(async () => {
    await stack?.close();
    await rm(root, { recursive: true, force: true });
    await rm(spool, { recursive: true, force: true });
  });

  it('stores exactly the files of the tree', async () => {
    const summary = await runScan({
      serverUrl: stack.api!.url,
      token: tenant.agentToken,
      shareName: 'e2e',
      rootPath: root,
      spoolRoot: spool,
      chunkRows: 7,
      wait: true,
      pollIntervalMs: 200,
      logger: pino({ level: 'silent' }),
    });

    expect(summary.status).to.equal('OK');
    expect(summary.files).to.equal(expected.length);
    expect(summary.chunks).to.equal(Math.ceil(expected.length / 7));
    expect(await fileRows(stack, 't_acme', summary.scanGuid)).to.deep.equal(expected);
  });

  it('plans the files older than a year from the scan', async () => {
    const summary = await planColdFiles(stack.services.pool, tenant, { share: 'e2e', olderThanSeconds: 365 * 86_400, plannedBy: 'test', apply: true });
    expect(summary.plannedFiles).to.equal(5);
    const { rows } = await stack.services.pool.query("SELECT full_path FROM t_acme.tier_object WHERE share_name = 'e2e' ORDER BY full_path");
    expect(rows.map((row) => row.full_path)).to.include(path.join(root, 'a, b & "c"', 'plain.txt'));
  });
});
