import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { runAgent } from './support/tieringSetup.ts';

describe('agent act and recall command line', function () {
  let workDir: string;
  let tokenFile: string;

  before(async function () {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-act-cli-'));
    tokenFile = path.join(workDir, 'token');
    await writeFile(tokenFile, 'act-cli-secret-4411');
  });

  after(async function () {
    await rm(workDir, { recursive: true, force: true });
  });

  it('act --help describes steps and exits', async function () {
    const run = await runAgent(['act', '--help']);

    expect(run.code).to.equal(0);
    expect(run.stdout).to.contain('Usage: strata-agent act');
    expect(run.stdout).to.contain('STALE');
    expect(run.stdout).to.contain('Windows marks the stub offline (FILE_ATTRIBUTE_OFFLINE)');
    expect(run.stdout).to.contain('Exit status');
  });

  it('recall --help names the pattern', async function () {
    const run = await runAgent(['recall', '--help']);

    expect(run.code).to.equal(0);
    expect(run.stdout).to.contain('--pattern GLOB');
  });

  it('missing share is a usage error', async function () {
    const run = await runAgent(['act', '--server', 'http://127.0.0.1:9', '--token-file', tokenFile]);

    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain('--share');
  });

  it('rejects a lease below the server minimum', async function () {
    const run = await runAgent(['act', '--server', 'http://127.0.0.1:9', '--token-file', tokenFile, '--share', 's', '--lease-seconds', '4']);

    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain('expected at least 5, the shortest lease the server grants');
  });

  it('pattern with act is a usage error', async function () {
    const run = await runAgent(['act', '--server', 'http://127.0.0.1:9', '--token-file', tokenFile, '--share', 's', '--pattern', '*']);

    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain('--pattern applies to recall only');
  });

  it('unreachable server exits 1 without the token', async function () {
    const run = await runAgent(['act', '--server', 'http://127.0.0.1:9', '--token-file', tokenFile, '--share', 's', '--max-attempts', '1', '--quiet']);

    expect(run.code).to.equal(1);
    expect(run.stderr).to.contain('reading the Tier-2 target of share s');
    expect(run.stderr).to.not.contain('act-cli-secret-4411');
  });
});
