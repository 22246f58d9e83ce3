import { expect } from 'chai';
import { listTargets, loadTarget, removeTarget, setTarget } from '../../src/acting/targets.ts';
import { Roles } from '../../src/db/roles.ts';
import { withTenant } from '../../src/db/tenantContext.ts';
import { StrataError } from '../../src/errors.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import type { S3TargetConfig } from '../../src/tier2/targetConfig.ts';
import { openTier2Store } from '../../src/tier2/openTier2Store.ts';
import { rotateTenantDek } from '../../src/keys/rotation/rotateTenantDek.ts';
import { startS3Server } from '../support/s3Server.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { putBytes } from '../tier2/storeContract.ts';
import { buffer } from 'node:stream/consumers';

const S3_TARGET: S3TargetConfig = {
  kind: 's3',
  bucket: 'cold-files',
  prefix: 'site-1',
  region: 'eu-west-1',
  endpoint: 'http://127.0.0.1:9',
  forcePathStyle: true,
  accessKeyId: 'AKIAEXAMPLEKEYID0001',
  secretAccessKey: 'secret/Value+With=Symbols-0001',
};

describe('tier targets', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  let globex: ProvisionedTenant;

  before(async () => {
    stack = await startStack('acting_targets', { api: false, workers: false });
    acme = await createTenant(stack, 'acme');
    globex = await createTenant(stack, 'globex');
  });
  after(async () => stack?.close());

  it('setTarget stores credentials sealed', async () => {
    const result = await setTarget(stack.services, acme, 'Docs', S3_TARGET, 'test:operator');

    expect(result).to.deep.equal({ created: true });
    const { rows } = await stack.services.pool.query('SELECT kind, settings, credentials_sealed FROM t_acme.tier_target');
    expect(rows).to.have.length(1);
    expect(rows[0].kind).to.equal('s3');
    expect(rows[0].settings).to.deep.equal({ bucket: 'cold-files', prefix: 'site-1', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', forcePathStyle: true });
    expect(rows[0].credentials_sealed).to.match(/^sv1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(rows[0].credentials_sealed).not.to.contain('AKIAEXAMPLE');
    expect(rows[0].credentials_sealed).not.to.contain('secret/Value');
    expect(Buffer.from(rows[0].credentials_sealed.split(':')[3], 'base64').toString('latin1')).not.to.contain('secret/Value');
  });

  it('loadTarget returns the full config', async () => {
    expect(await loadTarget(stack.services, acme, 'Docs')).to.deep.equal(S3_TARGET);
    expect(await loadTarget(stack.services, acme, 'Docs', Roles.sanitizer)).to.deep.equal(S3_TARGET);
    expect(await loadTarget(stack.services, acme, 'Other')).to.equal(null);
  });

  it('listTargets hides credentials', async () => {
    const targets = await listTargets(stack.services.pool, acme);

    expect(targets).to.have.length(1);
    expect(targets[0]!.shareName).to.equal('Docs');
    expect(targets[0]!.credentials).to.equal('set');
    expect(JSON.stringify(targets)).not.to.contain('AKIAEXAMPLE');
    expect(JSON.stringify(targets)).not.to.contain('secret/Value');
  });

  it('setTarget replaces a target', async () => {
    const result = await setTarget(stack.services, acme, 'Docs', { kind: 'fs', root: '/mnt/tier2' }, 'test:operator');

    expect(result).to.deep.equal({ created: false });
    expect(await loadTarget(stack.services, acme, 'Docs')).to.deep.equal({ kind: 'fs', root: '/mnt/tier2' });
    const { rows } = await stack.services.pool.query('SELECT credentials_sealed FROM t_acme.tier_target');
    expect(rows).to.deep.equal([{ credentials_sealed: null }]);
    expect((await listTargets(stack.services.pool, acme))[0]!.credentials).to.equal('not set');
  });

  it('audit log records changes without secrets', async () => {
    await setTarget(stack.services, acme, 'Audit', S3_TARGET, 'test:operator');
    expect(await removeTarget(stack.services.pool, acme, 'Audit', 'test:operator')).to.equal(true);
    expect(await removeTarget(stack.services.pool, acme, 'Audit', 'test:operator')).to.equal(false);

    const { rows } = await stack.services.pool.query("SELECT actor, action, details FROM t_acme.audit_log WHERE action LIKE 'tier_target.%' AND details->>'share' = 'Audit' ORDER BY audit_id");
    expect(rows.map((row) => row.action)).to.deep.equal(['tier_target.set', 'tier_target.removed']);
    expect(rows[0].actor).to.equal('test:operator');
    expect(rows[0].details.credentials).to.equal('set');
    expect(JSON.stringify(rows)).not.to.contain('AKIAEXAMPLE');
    expect(JSON.stringify(rows)).not.to.contain('secret/Value');
  });

  it('RLS hides another tenant', async () => {
    await setTarget(stack.services, globex, 'Docs', S3_TARGET, 'test:operator');
    expect((await listTargets(stack.services.pool, globex)).map((target) => target.shareName)).to.deep.equal(['Docs']);

    // Even naming acme's schema, globex's context reads none of acme's rows.
    for (const role of [Roles.planner, Roles.actor, Roles.sanitizer]) {
      const rows = await withTenant(stack.services.pool, globex, role, async (client) => (await client.query('SELECT share_name FROM t_acme.tier_target')).rows);
      expect(rows, role).to.deep.equal([]);
    }
  });

  it('only the planner writes targets', async () => {
    for (const role of [Roles.actor, Roles.sanitizer, Roles.api, Roles.report]) {
      const error = await withTenant(stack.services.pool, acme, role, (client) => client.query("DELETE FROM tier_target WHERE share_name = 'Docs'")).catch((caught: unknown) => caught);
      expect((error as { code?: string }).code, role).to.equal('42501');
    }
  });

  it('rejects credentials copied from another tenant', async () => {
    await stack.services.pool.query("UPDATE t_acme.tier_target SET kind = 's3', settings = (SELECT settings FROM t_globex.tier_target WHERE share_name = 'Docs'), credentials_sealed = (SELECT credentials_sealed FROM t_globex.tier_target WHERE share_name = 'Docs') WHERE share_name = 'Docs'");

    const error = await loadTarget(stack.services, acme, 'Docs').catch((caught: unknown) => caught);
    expect((error as StrataError).code).to.equal('TARGET_CREDENTIALS_UNREADABLE');
    expect((error as Error).message).to.contain('integrity check');
    expect((error as Error).message).to.contain('strata target set');
  });

  it('rejects credentials copied from another share', async () => {
    await setTarget(stack.services, globex, 'Other', { ...S3_TARGET, bucket: 'other-bucket' }, 'test:operator');
    await stack.services.pool.query("UPDATE t_globex.tier_target SET credentials_sealed = (SELECT credentials_sealed FROM t_globex.tier_target WHERE share_name = 'Docs') WHERE share_name = 'Other'");

    const error = await loadTarget(stack.services, globex, 'Other').catch((caught: unknown) => caught);
    expect(error).to.be.instanceOf(StrataError);
    expect((error as StrataError).code).to.equal('TARGET_CREDENTIALS_MISMATCH');
  });

  it('setTarget rejects invalid targets', async () => {
    const cases: [unknown, string][] = [
      [{ kind: 'ftp' }, 'kind must be fs, s3 or azure'],
      [{ kind: 'fs', root: 'relative/path' }, 'root'],
      [{ ...S3_TARGET, secretAccessKey: undefined }, 'secretAccessKey is required'],
      [{ ...S3_TARGET, bucket: 'Bad_Bucket' }, 'bucket'],
      [{ ...S3_TARGET, endpoint: 'http://169.254.169.254/' }, 'link-local'],
      [{ ...S3_TARGET, endpoint: 'http://[::ffff:169.254.169.254]/' }, 'link-local'],
      [{ ...S3_TARGET, endpoint: 'http://[64:ff9b::a9fe:a9fe]/' }, 'link-local'],
      [{ ...S3_TARGET, endpoint: 'http://100.100.100.200/' }, 'link-local'],
      [{ ...S3_TARGET, endpoint: 'http://0xA9FEA9FE/' }, 'link-local'],
      [{ ...S3_TARGET, endpoint: 'http://user:pw@127.0.0.1:9/' }, 'user name or password'],
      [{ ...S3_TARGET, unknownSetting: 1 }, 'unknownSetting is not a setting of kind s3'],
      [{ kind: 'azure', container: 'tier2', accountUrl: 'http://127.0.0.1:9/acct', accountName: 'acct' }, 'exactly one of accountKey and sasToken'],
      [{ kind: 'azure', container: 'tier2', accountUrl: 'http://127.0.0.1:9/acct?sig=abc', accountName: 'acct', sasToken: 'sv=1' }, 'query'],
      [{ ...S3_TARGET, prefix: 'a//b' }, 'prefix'],
    ];
    for (const [config, message] of cases) {
      const error = await setTarget(stack.services, acme, 'Invalid', config, 'test:operator').catch((caught: unknown) => caught);
      expect(error, message).to.be.instanceOf(StrataError);
      expect((error as Error).message, message).to.contain(message);
      expect((error as Error).message, message).not.to.contain('secret/Value');
    }
    const badShare = await setTarget(stack.services, acme, 'a/b', S3_TARGET, 'test:operator').catch((caught: unknown) => caught);
    expect((badShare as StrataError).code).to.equal('INVALID_SHARE_NAME');
    expect(await loadTarget(stack.services, acme, 'Invalid')).to.equal(null);
  });

  it('a loaded target opens its store', async () => {
    const s3 = await startS3Server();
    try {
      await setTarget(stack.services, acme, 'Live', { ...s3.config, prefix: 'acme' }, 'test:operator');
      const config = await loadTarget(stack.services, acme, 'Live');
      const store = openTier2Store(config!);

      await putBytes(store, 'Live/a.txt', Buffer.from('through the target'));
      expect((await buffer(await store.get('Live/a.txt'))).toString()).to.equal('through the target');
    } finally {
      await s3.stop();
    }
  });

  it('survives a data key rotation', async () => {
    await setTarget(stack.services, globex, 'Rotated', S3_TARGET, 'test:operator');
    const sealedBefore = await sealedOf('t_globex', 'Rotated');

    const result = await rotateTenantDek(
      { pool: stack.services.pool, keys: stack.services.keys, deks: stack.services.deks, log: stack.services.log },
      globex,
      'test:operator',
    );

    const column = result.columns.find((progress) => progress.table === 'tier_target');
    expect(column?.reencrypted).to.be.greaterThan(0);
    expect(await sealedOf('t_globex', 'Rotated')).not.to.equal(sealedBefore);
    expect(await loadTarget(stack.services, globex, 'Rotated')).to.deep.equal(S3_TARGET);
  });

  it('rejects a root that overlaps the scanned share', async () => {
    await stack.services.pool.query(
      `INSERT INTO t_acme.scan (tenant_id, scan_guid, share_name, source_type, root_path, path_style, started_at)
       VALUES ($1, gen_random_uuid(), 'Inside', 'POSIX', '/srv/share', 'posix', 1)`,
      [acme.id],
    );

    for (const root of ['/srv/share/tier2', '/srv/share', '/srv']) {
      const error = await setTarget(stack.services, acme, 'Inside', { kind: 'fs', root }, 'test:operator').catch((caught: unknown) => caught);
      expect((error as StrataError).code, root).to.equal('INVALID_TARGET');
      expect((error as Error).message, root).to.contain('overlaps the folder "/srv/share"');
    }
    expect(await setTarget(stack.services, acme, 'Inside', { kind: 'fs', root: '/srv/share2' }, 'test:operator')).to.deep.equal({ created: true });
  });

  it('rejects a root inside another share', async () => {
    await stack.services.pool.query(
      `INSERT INTO t_acme.scan (tenant_id, scan_guid, share_name, source_type, root_path, path_style, started_at)
       VALUES ($1, gen_random_uuid(), 'Neighbour', 'NTFS', 'E:\\Shares\\Neighbour', 'windows', 1)`,
      [acme.id],
    );

    const error = await setTarget(stack.services, acme, 'Unscanned', { kind: 'fs', root: 'e:\\shares\\neighbour\\t2' }, 'test:operator').catch(
      (caught: unknown) => caught,
    );
    expect((error as StrataError).code).to.equal('INVALID_TARGET');
    expect((error as Error).message).to.contain('share "Neighbour" (not the share being set)');
  });

  it('rejects dot segments in a root', async () => {
    await stack.services.pool.query(
      `INSERT INTO t_acme.scan (tenant_id, scan_guid, share_name, source_type, root_path, path_style, started_at)
       VALUES ($1, gen_random_uuid(), 'Dotted', 'POSIX', '/srv/dotted', 'posix', 1)`,
      [acme.id],
    );

    // The first three overlap the share, which a plain prefix test would not see.
    for (const root of ['/srv/other/../dotted/tier2', '/srv/./dotted/tier2', '/srv/dotted/..', 'D:\\x\\..\\dotted', '\\\\nas\\cold\\.\\t']) {
      const error = await setTarget(stack.services, acme, 'Dotted', { kind: 'fs', root }, 'test:operator').catch((caught: unknown) => caught);
      expect((error as StrataError).code, root).to.equal('INVALID_TARGET');
      expect((error as Error).message, root).to.contain('"." or ".." segment');
    }
    expect(await setTarget(stack.services, acme, 'Dotted', { kind: 'fs', root: '/srv/..cold/x.y' }, 'test:operator')).to.deep.equal({ created: true });
  });

  it('rejects a root starting with //', async () => {
    const error = await setTarget(stack.services, acme, 'Slashes', { kind: 'fs', root: '//nas/cold/tier2' }, 'test:operator').catch((caught: unknown) => caught);
    expect((error as StrataError).code).to.equal('INVALID_TARGET');
    expect((error as Error).message).to.contain('starts with "//"');
    expect((error as Error).message).to.contain('\\\\server\\share\\folder');
  });

  async function sealedOf(schema: string, share: string): Promise<string> {
    const { rows } = await stack.services.pool.query(`SELECT credentials_sealed FROM ${schema}.tier_target WHERE share_name = $1`, [share]);
    return rows[0].credentials_sealed;
  }
});
