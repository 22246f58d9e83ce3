import { expect } from 'chai';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadTarget } from '../../src/acting/targets.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { runStrata } from '../support/cli.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const SECRET = 'cli-secret/Value+0001';
const KEY_ID = 'AKIACLIEXAMPLE0001';

describe('strata target', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let folder: string;

  before(async () => {
    stack = await startStack('cli_target', { api: false, workers: false });
    tenant = await createTenant(stack, 'acme');
    folder = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-target-'));
  });
  after(async () => {
    await stack?.close();
    await rm(folder, { recursive: true, force: true });
  });

  const s3Args = ['--kind', 's3', '--bucket', 'cold-files', '--region', 'us-east-1', '--endpoint', 'http://127.0.0.1:9', '--force-path-style'];

  it('set reads S3 credentials from the environment', async () => {
    const result = await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Docs', ...s3Args], {
      env: { STRATA_TARGET_S3_ACCESS_KEY_ID: KEY_ID, STRATA_TARGET_S3_SECRET_ACCESS_KEY: SECRET },
    });

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('target of share Docs created: s3 bucket=cold-files region=us-east-1');
    expect(result.stdout).to.contain('credentials set (accessKeyId, secretAccessKey)');
    expect(result.stdout + result.stderr).not.to.contain(SECRET);
    expect(result.stdout + result.stderr).not.to.contain(KEY_ID);
    expect(await loadTarget(stack.services, tenant, 'Docs')).to.deep.include({ accessKeyId: KEY_ID, secretAccessKey: SECRET, bucket: 'cold-files' });
  });

  it('set reads credentials from stdin', async () => {
    const result = await runStrata(
      stack,
      ['target', 'set', '--tenant', 'acme', '--share', 'Blobs', '--kind', 'azure', '--container', 'tier2', '--account-url', 'http://127.0.0.1:9/acct', '--account-name', 'acct', '--credentials-file', '-'],
      { input: JSON.stringify({ sasToken: 'sv=2024&sig=stdin-secret' }) },
    );

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).not.to.contain('stdin-secret');
    expect(await loadTarget(stack.services, tenant, 'Blobs')).to.deep.equal({
      kind: 'azure',
      container: 'tier2',
      accountUrl: 'http://127.0.0.1:9/acct',
      accountName: 'acct',
      sasToken: 'sv=2024&sig=stdin-secret',
    });
  });

  it('set reads credentials from a file', async () => {
    const file = path.join(folder, 'credentials.json');
    await writeFile(file, JSON.stringify({ accessKeyId: 'AKIAFILE0001', secretAccessKey: 'file-secret' }), { mode: 0o600 });
    const result = await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Docs', ...s3Args, '--credentials-file', file]);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('target of share Docs replaced');
    expect(result.stderr).not.to.contain('warning');
    expect(await loadTarget(stack.services, tenant, 'Docs')).to.deep.include({ accessKeyId: 'AKIAFILE0001', secretAccessKey: 'file-secret' });
  });

  it('set warns of a readable credentials file', async () => {
    const file = path.join(folder, 'open-credentials.json');
    await writeFile(file, JSON.stringify({ accessKeyId: 'AKIAFILE0002', secretAccessKey: 'file-secret-2' }), { mode: 0o644 });
    const result = await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Open', ...s3Args, '--credentials-file', file]);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stderr).to.contain('can be read by other users');
    expect(result.stderr).not.to.contain('file-secret-2');
  });

  it('set takes no credentials on argv', async () => {
    const result = await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Docs', ...s3Args, `--secret-access-key=${SECRET}`]);

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain("Unknown option '--secret-access-key'");
    expect(result.stderr).not.to.contain(SECRET);
  });

  it('set rejects a file with other fields', async () => {
    const result = await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Docs', ...s3Args, '--credentials-file', '-'], {
      input: JSON.stringify({ accessKeyId: KEY_ID, secretAccessKey: SECRET, bucket: 'elsewhere' }),
    });

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('"bucket" is not a credential of kind s3');
    expect(result.stderr).not.to.contain(SECRET);
  });

  it('set rejects missing credentials', async () => {
    const result = await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Docs', ...s3Args]);

    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('accessKeyId is required');
  });

  it('set rejects an option of another kind', async () => {
    const result = await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Local', '--kind', 'fs', '--root', '/mnt/tier2', '--bucket', 'x']);

    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('bucket is not a setting of kind fs');
  });

  it('list shows targets without secrets', async () => {
    await runStrata(stack, ['target', 'set', '--tenant', 'acme', '--share', 'Local', '--kind', 'fs', '--root', '/mnt/tier2']);
    const result = await runStrata(stack, ['target', 'list', '--tenant', 'acme']);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^share\s+kind\s+settings\s+credentials\s+updated$/m);
    expect(result.stdout).to.match(/^Blobs\s+azure\s+container=tier2 accountUrl=http:\/\/127\.0\.0\.1:9\/acct accountName=acct\s+set\s/m);
    expect(result.stdout).to.match(/^Docs\s+s3\s+bucket=cold-files .*\s+set\s/m);
    expect(result.stdout).to.match(/^Local\s+fs\s+root=\/mnt\/tier2\s+not set\s/m);
    for (const secret of ['file-secret', 'AKIAFILE0001', 'stdin-secret', SECRET]) expect(result.stdout).not.to.contain(secret);
  });

  it('remove deletes a target once', async () => {
    const first = await runStrata(stack, ['target', 'remove', '--tenant', 'acme', '--share', 'Local']);
    const second = await runStrata(stack, ['target', 'remove', '--tenant', 'acme', '--share', 'Local']);

    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.contain('target of share Local removed');
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.contain('share Local had no target');
    expect(await loadTarget(stack.services, tenant, 'Local')).to.equal(null);
  });

  it('every action has help', async () => {
    for (const action of ['set', 'list', 'remove']) {
      const result = await runStrata(stack, ['target', action, '--help']);
      expect(result.code, action).to.equal(0);
      expect(result.stdout, action).to.contain(`Usage: strata target ${action}`);
    }
    const set = await runStrata(stack, ['target', 'set', '--help']);
    expect(set.stdout).to.contain('STRATA_TARGET_S3_SECRET_ACCESS_KEY');
    expect(set.stdout).to.contain('never taken from the command line');
  });
});
