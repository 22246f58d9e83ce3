import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { parseStub } from '../../agent/tiering/stub.ts';
import { setTarget } from '../../src/acting/targets.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { openTier2Store } from '../../src/tier2/openTier2Store.ts';
import type { TargetConfig } from '../../src/tier2/targetConfig.ts';
import { expectAllOriginal, expectNothingLost, runAgent, scanAndPlan, tierStates, writeColdFiles, YEAR_SECONDS } from '../agent/support/tieringSetup.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

/**
 * Recalls of a stub that is not at its claimed path. The agent cannot tell a deleted
 * stub from a moved one or from a folder that is away for a while, so none of these may
 * lose content that a stub still refers to.
 */
describe('agent recall of a stub that is not in its place', function () {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let work: string;
  let tokenFile: string;

  before(async function () {
    stack = await startStack('recall_changed');
    tenant = await createTenant(stack, 'acme');
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-recall-changed-'));
    tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, tenant.agentToken);
  });

  after(async function () {
    await stack?.close();
    await rm(work, { recursive: true, force: true });
  });

  function agentArgs(command: string, share: string, ...extra: string[]): string[] {
    return [command, '--server', stack.api!.url, '--token-file', tokenFile, '--share', share, '--quiet', ...extra];
  }

  async function tierTree(share: string, specs: { relativePath: string; size: number }[]) {
    const config: TargetConfig = { kind: 'fs', root: path.join(work, `${share}-tier2`) };
    await setTarget(stack.services, tenant, share, config, 'test');
    const root = path.join(work, share);
    const files = await writeColdFiles(root, specs);
    await scanAndPlan(stack, tenant, share, root, path.join(work, 'spool'));
    const act = await runAgent(agentArgs('act', share));
    expect(act.code, act.stderr).to.equal(0);
    expect((await tierStates(stack, tenant, share)).states).to.deep.equal({ STUBBED: files.length });
    return { root, files, store: openTier2Store(config) };
  }

  // The recall of the old name ends STALE and the object stays STUBBED. Were it released
  // to the planner, the new file would be tiered under the same key, over the moved
  // stub's only copy.
  it('moved stub keeps its Tier-2 copy', async function () {
    const { root, files, store } = await tierTree('moved', [{ relativePath: 'docs/report.dat', size: 5000 }]);
    const original = files[0]!;

    // The user moves the stub into an archive folder and later saves a new, cold file
    // under the old name.
    const archived = path.join(root, 'archive', 'report.dat');
    await mkdir(path.dirname(archived), { recursive: true });
    await rename(original.path, archived);
    await writeFile(original.path, Buffer.alloc(7000, 'n'));
    const longAgo = Math.floor(Date.now() / 1000) - 2 * YEAR_SECONDS;
    await utimes(original.path, longAgo, longAgo);

    const recall = await runAgent(agentArgs('recall', 'moved', '--pattern', `${root}/docs/*`));
    expect(recall.code, recall.stderr).to.equal(0);

    // A later scan and plan, and a tiering run of the share.
    await scanAndPlan(stack, tenant, 'moved', root, path.join(work, 'spool'));
    const act = await runAgent(agentArgs('act', 'moved'));
    expect(act.code, act.stderr).to.equal(0);

    // The moved stub still refers to the original content.
    const stub = parseStub(await readFile(archived));
    expect(stub, 'the archived file is a stub').to.not.equal(undefined);
    await expectNothingLost([{ ...original, path: archived }], store);
  });

  it('recall after folder returns', async function () {
    const { root, files } = await tierTree('away', [
      { relativePath: 'projects/a.dat', size: 3000 },
      { relativePath: 'projects/b.dat', size: 4000 },
    ]);

    // The folder is not there for one recall run (an unmounted share, a folder renamed
    // and renamed back), then it is back with its stubs.
    const aside = path.join(work, 'away-aside');
    await rename(path.join(root, 'projects'), aside);
    const whileAway = await runAgent(agentArgs('recall', 'away'));
    expect(whileAway.stdout, whileAway.stderr).to.contain('stale=2');
    expect((await tierStates(stack, tenant, 'away')).states).to.deep.equal({ STUBBED: files.length });
    await rename(aside, path.join(root, 'projects'));

    const recall = await runAgent(agentArgs('recall', 'away'));
    expect(recall.code, recall.stderr).to.equal(0);
    await expectAllOriginal(files);
    expect((await tierStates(stack, tenant, 'away')).states).to.deep.equal({ REHYDRATED: files.length });
  });
});
