import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { OFFLINE_ATTRIBUTE } from '../../agent/tiering/stub.ts';
import { setTarget } from '../../src/acting/targets.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { openTier2Store } from '../../src/tier2/openTier2Store.ts';
import type { TargetConfig } from '../../src/tier2/targetConfig.ts';
import {
  expectAllOriginal,
  expectNothingLost,
  runAgent,
  scanAndPlan,
  tierStates,
  writeColdFiles,
  type ColdFile,
} from '../agent/support/tieringSetup.ts';
import { startAzurite } from '../support/azurite.ts';
import { startS3Server } from '../support/s3Server.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

/** Files per target kind; about 2,000 keeps the three kinds within a few minutes on two cores. */
const TREE_FILES = 2000;

/** Names that have broken tiering elsewhere: Windows rewriting, '+' and '%' in keys, NFC and NFD. */
const HARD_NAMES = ['notes', 'notes.', 'notes ', 'a b.txt', 'a+b.txt', '100%.csv', 'caf\u00e9.txt', 'cafe\u0301.txt', 'CON.txt'];

function treeSpecs(): { relativePath: string; size: number }[] {
  const specs = HARD_NAMES.map((name) => ({ relativePath: path.join('hard names', name), size: 100 + name.length }));
  for (let index = specs.length; index < TREE_FILES; index++) {
    // Mostly small files, with every 50th up to about 300 KiB.
    const size = index % 50 === 0 ? 3000 * (index % 97) : (index * 37) % 20_000;
    specs.push({ relativePath: path.join(`dept ${index % 7}`, `folder ${index % 31}`, `file ${index}.dat`), size });
  }
  return specs;
}

describe('agent act and recall end to end', function () {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let work: string;
  let tokenFile: string;
  const stops: (() => Promise<void>)[] = [];

  before(async function () {
    stack = await startStack('act_e2e');
    tenant = await createTenant(stack, 'acme');
    work = await mkdtemp(path.join(os.tmpdir(), 'strata-act-e2e-'));
    tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, tenant.agentToken);
  });

  after(async function () {
    for (const stop of stops) {
      await stop();
    }
    await stack?.close();
    await rm(work, { recursive: true, force: true });
  });

  function agentArgs(command: string, share: string, ...extra: string[]): string[] {
    return [command, '--server', stack.api!.url, '--token-file', tokenFile, '--share', share, '--quiet', ...extra];
  }

  async function offlineFiles(share: string): Promise<number> {
    const { rows } = await stack.services.pool.query<{ count: string }>(
      `SELECT count(*) AS count FROM ${tenant.schemaName}.file f
         JOIN ${tenant.schemaName}.scan s USING (scan_id)
        WHERE s.share_name = $1 AND s.status = 'OK' AND f.attributes & ${OFFLINE_ATTRIBUTE} <> 0
          AND s.scan_id = (SELECT max(scan_id) FROM ${tenant.schemaName}.scan WHERE share_name = $1 AND status = 'OK')`,
      [share],
    );
    return Number(rows[0]!.count);
  }

  async function roundTrip(share: string, config: TargetConfig): Promise<void> {
    await setTarget(stack.services, tenant, share, config, 'test');
    const store = openTier2Store(config);
    const root = path.join(work, share);
    const files: ColdFile[] = await writeColdFiles(root, treeSpecs());
    await scanAndPlan(stack, tenant, share, root, path.join(work, 'spool'));
    expect((await tierStates(stack, tenant, share)).states).to.deep.equal({ PLANNED: files.length });

    const act = await runAgent(agentArgs('act', share));
    expect(act.code, act.stderr).to.equal(0);
    expect(act.stdout).to.contain(`stubbed=${files.length} `);

    const { stubs } = await expectNothingLost(files, store);
    expect(stubs).to.equal(files.length);
    expect((await tierStates(stack, tenant, share)).states).to.deep.equal({ STUBBED: files.length });

    // A rescan reports every stub offline, so no plan picks them up again.
    await scanAndPlan(stack, tenant, share, root, path.join(work, 'spool'));
    expect(await offlineFiles(share)).to.equal(files.length);
    expect((await tierStates(stack, tenant, share)).states).to.deep.equal({ STUBBED: files.length });

    const hardOnly = await runAgent(agentArgs('recall', share, '--pattern', `${root}/hard names/*`));
    expect(hardOnly.code, hardOnly.stderr).to.equal(0);
    expect(hardOnly.stdout).to.contain(`rehydrated=${HARD_NAMES.length} `);
    await expectAllOriginal(files.slice(0, HARD_NAMES.length));

    const recall = await runAgent(agentArgs('recall', share));
    expect(recall.code, recall.stderr).to.equal(0);
    await expectAllOriginal(files);
    expect((await tierStates(stack, tenant, share)).states).to.deep.equal({ REHYDRATED: files.length });
  }

  it('round trip through a local folder', async function () {
    await roundTrip('local', { kind: 'fs', root: path.join(work, 'tier2') });
  });

  it('round trip through S3', async function () {
    const s3 = await startS3Server('act-e2e');
    stops.push(() => s3.stop());
    await roundTrip('s3', s3.config);
  });

  it('round trip through Azure Blob', async function () {
    const azurite = await startAzurite('act-e2e');
    stops.push(() => azurite.stop());
    await roundTrip('azure', azurite.config);
  });
});
