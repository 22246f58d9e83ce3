import { expect } from 'chai';
import { loadTarget, removeTarget, setTarget } from '../../src/acting/targets.ts';
import { StrataError } from '../../src/errors.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import type { S3TargetConfig } from '../../src/tier2/targetConfig.ts';
import { claim, ingestShare, report, SHA_A } from '../support/acting.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const YEAR = 365 * 86_400;

const TARGET: S3TargetConfig = {
  kind: 's3',
  bucket: 'cold-files',
  region: 'eu-west-1',
  endpoint: 'http://127.0.0.1:9',
  forcePathStyle: true,
  accessKeyId: 'AKIAEXAMPLEKEYID0001',
  secretAccessKey: 'first-secret',
};

describe('targets in use', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;

  async function rejection(change: Promise<unknown>): Promise<StrataError> {
    const error = await change.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error, 'the change is rejected').to.be.instanceOf(StrataError);
    return error as StrataError;
  }

  before(async () => {
    stack = await startStack('target_in_use');
    acme = await createTenant(stack, 'acme');
    const old = Math.floor(Date.now() / 1000) - 2 * YEAR;
    await ingestShare(stack, acme, 'docs', [
      { dir: 'D:\\Docs', name: 'a.doc', size: 1, atime: old },
      { dir: 'D:\\Docs', name: 'b.doc', size: 2, atime: old },
    ]);
    await planColdFiles(stack.services.pool, acme, { share: 'docs', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    await setTarget(stack.services, acme, 'docs', TARGET, 'test');

    // One file ends stubbed on the target, the other stays leased (in flight).
    const claimed = await claim(stack, acme.agentToken, { share: 'docs', kind: 'tier', max: 2 });
    const [stubbed] = claimed.body.actions;
    const reported = await report(stack, acme.agentToken, [{ id: stubbed.id, fence: stubbed.fence, outcome: 'STUBBED', sha256: SHA_A }]);
    expect(reported.body.results[0].accepted).to.equal(true);
  });
  after(async () => stack?.close());

  it('rejects moving a target in use', async () => {
    const error = await rejection(setTarget(stack.services, acme, 'docs', { ...TARGET, bucket: 'other-bucket' }, 'test'));
    expect(error.code).to.equal('TARGET_IN_USE');
    expect(error.status).to.equal(409);
    expect(error.message).to.contain('1 IN_PROGRESS, 1 STUBBED');
    expect(error.message).to.contain('--force');
    expect((await loadTarget(stack.services, acme, 'docs'))?.kind).to.equal('s3');
    expect(((await loadTarget(stack.services, acme, 'docs')) as S3TargetConfig).bucket).to.equal('cold-files');
  });

  it('rejects another kind in use', async () => {
    const error = await rejection(setTarget(stack.services, acme, 'docs', { kind: 'fs', root: '/srv/tier2' }, 'test'));
    expect(error.code).to.equal('TARGET_IN_USE');
  });

  it('accepts new credentials alone', async () => {
    // The same settings in another key order are the same place.
    const reordered = { secretAccessKey: 'second-secret', kind: 's3', forcePathStyle: true, endpoint: TARGET.endpoint, region: TARGET.region, bucket: TARGET.bucket, accessKeyId: TARGET.accessKeyId };
    expect(await setTarget(stack.services, acme, 'docs', reordered, 'test')).to.deep.equal({ created: false });
    expect(((await loadTarget(stack.services, acme, 'docs')) as S3TargetConfig).secretAccessKey).to.equal('second-secret');
  });

  it('accepts another region or path style', async () => {
    const { accessKeyId, secretAccessKey, ...settings } = TARGET;
    expect(await setTarget(stack.services, acme, 'docs', { ...settings, region: 'us-east-1', forcePathStyle: false, accessKeyId, secretAccessKey }, 'test')).to.deep.equal({
      created: false,
    });
    const stored = (await loadTarget(stack.services, acme, 'docs')) as S3TargetConfig;
    expect(stored.region).to.equal('us-east-1');

    const endpoint = await rejection(setTarget(stack.services, acme, 'docs', { ...TARGET, endpoint: 'http://127.0.0.1:10' }, 'test'));
    expect(endpoint.code, 'another endpoint is another place').to.equal('TARGET_IN_USE');
    const prefix = await rejection(setTarget(stack.services, acme, 'docs', { ...TARGET, prefix: 'elsewhere' }, 'test'));
    expect(prefix.code).to.equal('TARGET_IN_USE');
  });

  it('rejects removing a target in use', async () => {
    const error = await rejection(removeTarget(stack.services.pool, acme, 'docs', 'test'));
    expect(error.code).to.equal('TARGET_IN_USE');
    expect(await loadTarget(stack.services, acme, 'docs')).to.not.equal(null);
  });

  it('moves a target in use with force, and audits it', async () => {
    await setTarget(stack.services, acme, 'docs', { kind: 'fs', root: '/srv/moved-tier2' }, 'test', { force: true });
    expect(await loadTarget(stack.services, acme, 'docs')).to.deep.equal({ kind: 'fs', root: '/srv/moved-tier2' });

    // A trailing separator names the same folder, so it needs no force.
    expect(await setTarget(stack.services, acme, 'docs', { kind: 'fs', root: '/srv/moved-tier2/' }, 'test')).to.deep.equal({ created: false });
    expect(await removeTarget(stack.services.pool, acme, 'docs', 'test', { force: true })).to.equal(true);

    const { rows } = await stack.services.pool.query(
      "SELECT action, details FROM t_acme.audit_log WHERE action IN ('tier_target.set', 'tier_target.removed') ORDER BY audit_id",
    );
    expect(rows.map((row) => [row.action, row.details.forced ?? false])).to.deep.equal([
      ['tier_target.set', false],
      ['tier_target.set', false],
      ['tier_target.set', false],
      ['tier_target.set', true],
      ['tier_target.set', false],
      ['tier_target.removed', true],
    ]);
  });

  it('moves a target of a share with nothing on it', async () => {
    await setTarget(stack.services, acme, 'empty', TARGET, 'test');
    expect(await setTarget(stack.services, acme, 'empty', { kind: 'fs', root: '/srv/empty-tier2' }, 'test')).to.deep.equal({ created: false });
    expect(await removeTarget(stack.services.pool, acme, 'empty', 'test')).to.equal(true);
  });
});
