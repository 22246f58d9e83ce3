import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { pino } from 'pino';
import { runInventory } from '../../agent/runInventory.ts';
import { registerSanitizeWorkers } from '../../src/jobs/sanitizeWorkers.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { runStrata, tokenIn } from '../support/cli.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { scanShare } from '../sanitize/fixtures.ts';

describe('strata sanitize', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let folder: string;
  let store: FsStore;
  const tokens: Record<string, string> = {};
  let runId: string;
  let proposalId: string;
  let digest: string;

  const asPerson = (person: string) => ({ env: { STRATA_ADMIN_TOKEN: tokens[person]! } });

  before(async () => {
    stack = await startStack('cli_sanitize');
    tenant = await createTenant(stack, 'acme');
    folder = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-sanitize-'));
    store = new FsStore(path.join(folder, 'tier2'));
    await registerSanitizeWorkers({
      boss: stack.boss!,
      pool: stack.services.pool,
      log: stack.services.log,
      settings: stack.config.sanitize,
      tier2Stores: async () => store,
      pollingIntervalSeconds: 0.5,
    });

    for (const person of ['alice', 'bob', 'carol']) {
      const issued = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', person, '--scopes', 'admin', '--person', `${person}@example.com`]);
      expect(issued.code, issued.stderr).to.equal(0);
      tokens[person] = tokenIn(issued.stdout);
    }

    const body = Buffer.from('left behind');
    await store.put('projects/old.bin', Readable.from([body]), { sizeBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    await scanShare(stack, tenant.agentToken, 'projects', [{ dir: '/srv/p', name: 'a.doc', size: 1, used: 1 }]);
    await runInventory({ serverUrl: stack.api!.url, token: tenant.agentToken, share: 'projects', root: path.join(folder, 'tier2'), logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await stack?.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('reconciles and prints counts per kind', async () => {
    const result = await runStrata(stack, ['sanitize', '--tenant', 'acme', '--share', 'projects']);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^ORPHAN\s+1\s+11 B\s+0\s+0$/m);
    expect(result.stdout).to.match(/^MISSING\s+0\s+0 B/m);
    runId = /^Sanitizer run (\d+)/m.exec(result.stdout)![1]!;
  });

  it('exports findings as CSV', async () => {
    const file = path.join(folder, 'findings.csv');
    const result = await runStrata(stack, ['sanitize', 'findings', '--tenant', 'acme', '--run', runId, '--csv', file]);

    expect(result.code, result.stderr).to.equal(0);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(lines[0]).to.equal('finding_id,kind,share_name,tier_id,tier_state,object_key,full_path,size_bytes,tier2_size_bytes,last_used_unix');
    expect(lines.slice(1).map((line) => line.split(',').slice(1, 3).concat(line.split(',')[5]!))).to.deep.equal([['ORPHAN', 'projects', 'projects/old.bin']]);
  });

  it('rejects a token on the command line', async () => {
    const result = await runStrata(stack, ['sanitize', 'propose', '--tenant', 'acme', '--run', runId, '--token', tokens.alice!]);
    expect(result.code).to.equal(2);
  });

  it('proposes as a dry run', async () => {
    const result = await runStrata(stack, ['sanitize', 'propose', '--tenant', 'acme', '--run', runId], asPerson('alice'));

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('Dry run: nothing has changed');
    expect(result.stdout).to.match(/ORPHAN -> delete\s+1/);
    proposalId = /^Proposal ([0-9a-f-]{36})/m.exec(result.stdout)![1]!;
    digest = /digest:\s+([0-9a-f]{64})/.exec(result.stdout)![1]!;
    expect(await store.head('projects/old.bin')).to.not.equal(null);
  });

  it('rejects the requester as approver', async () => {
    const result = await runStrata(stack, ['sanitize', 'approve', '--tenant', 'acme', '--proposal', proposalId, '--digest', digest], asPerson('alice'));
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/requested proposal .* and cannot approve it/);
  });

  it('executes after two approvals', async () => {
    const bob = await runStrata(stack, ['sanitize', 'approve', '--tenant', 'acme', '--proposal', proposalId, '--digest', digest, '--token-stdin'], {
      input: `${tokens.bob}\n`,
    });
    expect(bob.code, bob.stderr).to.equal(0);
    const early = await runStrata(stack, ['sanitize', 'execute', '--tenant', 'acme', '--proposal', proposalId], asPerson('alice'));
    expect(early.code).to.equal(1);
    expect(early.stderr).to.match(/needs 2/);

    const carol = await runStrata(stack, ['sanitize', 'approve', '--tenant', 'acme', '--proposal', proposalId, '--digest', digest], asPerson('carol'));
    expect(carol.code, carol.stderr).to.equal(0);
    const run = await runStrata(stack, ['sanitize', 'execute', '--tenant', 'acme', '--proposal', proposalId, '--wait', '--timeout', '60'], asPerson('alice'));

    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/EXECUTED/);
    expect(await store.head('projects/old.bin')).to.equal(null);
    expect(await store.head(`.strata-quarantine/${proposalId}/projects/old.bin`)).to.not.equal(null);
  });

  it('keeps orphans within their grace period on purge', async () => {
    const result = await runStrata(stack, ['sanitize', 'purge', '--tenant', 'acme', '--proposal', proposalId]);
    expect(result.code, result.stderr).to.equal(0);

    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await store.head(`.strata-quarantine/${proposalId}/projects/old.bin`)).to.not.equal(null);
  });

  it('help describes every action', async () => {
    const result = await runStrata(stack, ['sanitize', '--help']);
    expect(result.code).to.equal(0);
    for (const action of ['inventory', 'findings', 'propose', 'show', 'approve', 'execute']) expect(result.stdout).to.contain(`strata sanitize ${action}`);
  });
});
