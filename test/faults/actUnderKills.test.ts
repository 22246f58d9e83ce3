import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';

import type { FaultStep } from '../../agent/tiering/faultHooks.ts';
import { setTarget } from '../../src/acting/targets.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { openTier2Store } from '../../src/tier2/openTier2Store.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import {
  acceptedResults,
  expectAllOriginal,
  expectNothingLost,
  expireLeases,
  runAgent,
  scanAndPlan,
  tierStates,
  writeColdFiles,
  type ColdFile,
} from '../agent/support/tieringSetup.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

/**
 * The agent is killed with SIGKILL at each named step of tiering and recall, by its own
 * fault hook, while it works on two files at once. After every kill no file may be
 * lost: each is its original content or a stub whose Tier-2 object has that content.
 * A final run without faults must end with every object STUBBED (then REHYDRATED) once.
 */
describe('agent act and recall under kills', function () {
  const share = 'faults';
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let work: string;
  let store: Tier2Store;
  let files: ColdFile[];
  let tokenFile: string;

  before(async function () {
    stack = await startStack('act_faults');
    tenant = await createTenant(stack, 'acme');
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-act-faults-'));
    const tier2Root = path.join(work, 'tier2');
    await setTarget(stack.services, tenant, share, { kind: 'fs', root: tier2Root }, 'test');
    store = openTier2Store({ kind: 'fs', root: tier2Root });

    // One file over the agent's 8 MiB in-memory limit, so a kill also lands in a streamed copy.
    const specs = Array.from({ length: 40 }, (_, index) => ({ relativePath: path.join(`d${index % 4}`, `file ${index}.bin`), size: 1 + index * 1500 }));
    specs.push({ relativePath: 'big/large.bin', size: 9 * 1024 * 1024 });
    files = await writeColdFiles(path.join(work, 'share'), specs);
    await scanAndPlan(stack, tenant, share, path.join(work, 'share'), path.join(work, 'spool'));

    tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, tenant.agentToken);
  });

  after(async function () {
    await stack?.close();
    if (this.currentTest?.state !== 'failed') {
      await rm(work, { recursive: true, force: true });
    }
  });

  function agentArgs(command: 'act' | 'recall'): string[] {
    return [command, '--server', stack.api!.url, '--token-file', tokenFile, '--share', share, '--concurrency', '2', '--claim-batch', '4', '--quiet'];
  }

  async function killAt(command: 'act' | 'recall', step: FaultStep, skip: number): Promise<void> {
    const run = await runAgent(agentArgs(command), { STRATA_AGENT_FAULT_AT: step, STRATA_AGENT_FAULT_SKIP: String(skip) });
    expect(run.signal, `${command} killed at ${step}: ${run.stderr}`).to.equal('SIGKILL');

    // A claim the agent sent just before it died may still be running on the server.
    // Its leases must end too, as they would with time.
    await setTimeout(1000);
    await expireLeases(stack, tenant, share);
  }

  it('act killed at every step loses nothing', async function () {
    const steps: FaultStep[] = ['tier.copying', 'tier.verified', 'tier.stub-written', 'tier.stubbed'];
    for (const [round, step] of steps.entries()) {
      await killAt('act', step, round);
      await expectNothingLost(files, store);
    }

    const final = await runAgent(agentArgs('act'));
    expect(final.code, final.stderr).to.equal(0);

    const { originals, stubs } = await expectNothingLost(files, store);
    expect(originals).to.equal(0);
    expect(stubs).to.equal(files.length);
    const { states, duplicates } = await tierStates(stack, tenant, share);
    expect(states).to.deep.equal({ STUBBED: files.length });
    expect(duplicates).to.equal(0);
    const stubbedResults = await acceptedResults(stack, tenant, share, 'STUBBED');
    expect(stubbedResults).to.have.length(files.length);
    expect(stubbedResults.every((count) => count === 1)).to.equal(true);
  });

  it('recall killed mid-copy and after restore', async function () {
    for (const [round, step] of (['recall.copying', 'recall.restored'] as FaultStep[]).entries()) {
      await killAt('recall', step, round);
      await expectNothingLost(files, store);
    }

    const final = await runAgent(agentArgs('recall'));
    expect(final.code, final.stderr).to.equal(0);

    await expectAllOriginal(files);
    const { states } = await tierStates(stack, tenant, share);
    expect(states).to.deep.equal({ REHYDRATED: files.length });
    const rehydratedResults = await acceptedResults(stack, tenant, share, 'REHYDRATED');
    expect(rehydratedResults).to.have.length(files.length);
    expect(rehydratedResults.every((count) => count === 1)).to.equal(true);
  });
});
