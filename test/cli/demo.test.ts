import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildDemoShare } from '../../src/cli/commands/demoShare.ts';
import { runStrata } from '../support/cli.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('strata demo', () => {
  let stack: Stack;
  let work: string;
  let source: string;

  before(async () => {
    stack = await startStack('cli_demo', { api: false, workers: false });
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-demo-'));
    source = path.join(work, 'source');
    for (let i = 0; i < 60; i++) {
      const folder = path.join(source, `folder ${i % 6}`);
      await mkdir(folder, { recursive: true });
      await writeFile(path.join(folder, `file ${i}.txt`), `content of file ${i}\n`.repeat(i + 1));
    }
  });
  after(async () => {
    await stack?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('builds a share of aged copies', async () => {
    const now = 1_800_000_000;
    const share = await buildDemoShare(source, path.join(work, 'copy'), 12, now);

    expect(share.files).to.equal(12);
    const first = path.join(work, 'copy', 'folder 0', 'file 0.txt');
    expect(await readFile(first, 'utf8')).to.equal('content of file 0\n');
    expect((await stat(first)).mtimeMs / 1000).to.equal(now);
    const last = path.join(work, 'copy', 'folder 1', 'file 13.txt');
    expect((await stat(last)).mtimeMs / 1000).to.be.lessThan(now - 4 * 365 * 86_400);
  });

  it('tiers its plan and reports it', async () => {
    const result = await runStrata(stack, ['demo', '--root', source, '--files', '60'], { cwd: work });

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/What moved to Tier-2/);
    const stubbed = /STUBBED\s+(\d+)/.exec(result.stdout);
    expect(Number(stubbed?.[1])).to.be.greaterThan(40);
    expect(result.stdout).to.match(/Sanitizer run 1 \(share demo\): DONE/);
    expect(result.stdout).to.match(/MISSING\s+0\s/);
    expect(result.stdout).to.match(/ORPHAN\s+0\s/);

    // The source tree is only read; the share's copies became stubs.
    expect(await readFile(path.join(source, 'folder 5', 'file 59.txt'), 'utf8')).to.equal('content of file 59\n'.repeat(60));
    const stub = await readFile(path.join(work, '.strata', 'demo', 'share', 'folder 5', 'file 59.txt'), 'utf8');
    expect(stub.startsWith('STRATA-STUB v1')).to.equal(true);
  });
});
