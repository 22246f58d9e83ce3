import { strict as assert } from 'node:assert';
import Router from '@koa/router';
import Koa from 'koa';
import type { AddressInfo } from 'node:net';
import { errorHandler } from '../../src/api/errorHandler.ts';
import { Roles } from '../../src/db/roles.ts';
import { QueueNames } from '../../src/jobs/queues.ts';
import { openSecret, sealSecret } from '../../src/keys/envelope.ts';
import type { SealedColumn } from '../../src/keys/sealedColumns.ts';
import { rotateTenantDek } from '../../src/keys/rotation/rotateTenantDek.ts';
import { TenantDeks } from '../../src/keys/tenantDeks.ts';
import { deleteTenant } from '../../src/tenancy/deleteTenant.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { runStrata } from '../support/cli.ts';
import { HEADER, call, completeAndWait, csvLines, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';
import { startTransitServer, type TransitServer } from '../support/transitServer.ts';

/** A table made by the test in a tenant schema, registered like a real sealed column. */
const FIXTURE: SealedColumn = { table: 'sealed_fixture', column: 'sealed', keyColumn: 'id', keyType: 'bigint', role: Roles.api };

describe('tenant keys in Vault Transit', () => {
  let server: TransitServer;
  let stack: Stack;
  let env: Record<string, string>;

  before(async () => {
    server = await startTransitServer();
    // AppRole throughout, so every step also covers login and re-login.
    env = {
      STRATA_KEY_PROVIDER: 'vault',
      VAULT_ADDR: server.url,
      STRATA_VAULT_ROLE_ID: server.approle.roleId,
      STRATA_VAULT_SECRET_ID: server.approle.secretId,
      STRATA_VAULT_TIMEOUT_MS: '2000',
    };
    stack = await startStack('vault_tenants', { env });
  });
  afterEach(() => {
    server.state.sealed = false;
    server.state.denied = [];
  });
  after(async () => {
    await stack?.close();
    await server?.close();
  });

  const decrypts = () => server.requests.filter((request) => request.startsWith('POST transit/decrypt/')).length;
  const logins = () => server.requests.filter((request) => request === 'POST auth/approle/login').length;

  async function registryRow(tenantId: string) {
    const { rows } = await stack.services.pool.query('SELECT * FROM control.tenant WHERE id = $1', [tenantId]);
    return rows[0];
  }

  async function nothingLeft(code: string): Promise<void> {
    await nothingLeftButKey(code);
    assert.equal(server.keys.has(code), false, 'transit key left behind');
  }

  async function nothingLeftButKey(code: string): Promise<void> {
    const { rows: schemas } = await stack.services.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [`t_${code}`]);
    const { rows: tenants } = await stack.services.pool.query('SELECT 1 FROM control.tenant WHERE code = $1', [code]);
    assert.equal(schemas.length, 0, 'schema left behind');
    assert.equal(tenants.length, 0, 'registry row left behind');
  }

  it("keeps the winner's key in a race", async () => {
    const results = await Promise.allSettled([createTenant(stack, 'vt_race'), createTenant(stack, 'vt_race')]);

    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.filter((result) => result.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.equal((lost[0] as PromiseRejectedResult).reason.code, 'TENANT_EXISTS');
    assert.equal(server.keys.has('vt_race'), true, 'the winning tenant lost its transit key');

    const winner = (won[0] as PromiseFulfilledResult<ProvisionedTenant>).value;
    const sealed = await stack.services.deks.withDek(winner, (dek) => sealSecret(dek, winner.id, Buffer.from('still readable')));
    stack.services.deks.evict(winner.id);
    const opened = await stack.services.deks.withDek(winner, (dek) => openSecret(dek, winner.id, sealed));
    assert.equal(opened.toString(), 'still readable');
  });

  it('stores only wrapped key material', async () => {
    const tenant = await createTenant(stack, 'vt_wrapped');
    const row = await registryRow(tenant.id);

    assert.equal(row.key_ref, 'vault:transit/keys/vt_wrapped');
    assert.match(row.wrapped_dek, /^vault:v1:/);
    assert.equal(row.key_version, 1);
    assert.equal(row.pending_wrapped_dek, null);

    const dek = await stack.services.deks.withDek(tenant, (key) => Buffer.from(key));
    const everything = JSON.stringify(row);
    assert.ok(!everything.includes(dek.toString('base64')));
    assert.ok(!everything.includes(dek.toString('hex')));
    assert.equal(server.keys.get('vt_wrapped')?.exportable, false);
  });

  it('round-trips a secret under a Vault DEK', async () => {
    const acme = await createTenant(stack, 'vt_acme');
    const other = await createTenant(stack, 'vt_other');

    const sealed = await stack.services.deks.withDek(acme, (dek) => sealSecret(dek, acme.id, Buffer.from('share-password')));
    const opened = await stack.services.deks.withDek(acme, (dek) => openSecret(dek, acme.id, sealed));
    assert.equal(opened.toString(), 'share-password');
    await assert.rejects(
      stack.services.deks.withDek(other, async (dek) => openSecret(dek, other.id, sealed)),
      /integrity check/,
    );
  });

  it('caches the DEK, then zeroes it', async () => {
    const tenant = await createTenant(stack, 'vt_cache');
    const deks = new TenantDeks(stack.services.pool, () => stack.services.keys, { ttlMs: 60_000, maxUses: 3 });
    const before = decrypts();

    for (let i = 0; i < 3; i += 1) await deks.withDek(tenant, (dek) => assert.equal(dek.length, 32));
    assert.equal(decrypts(), before + 1);
    await deks.withDek(tenant, () => undefined);
    assert.equal(decrypts(), before + 2, 'the use limit forces a new unwrap');

    const cached = (deks as unknown as { cache: Map<string, { dek: Buffer }> }).cache.get(tenant.id)!.dek;
    assert.ok(cached.some((byte) => byte !== 0));
    assert.equal(JSON.stringify((deks as unknown as { cache: Map<string, object> }).cache.get(tenant.id)).includes('dek'), false);
    deks.close();
    assert.equal(deks.size, 0);
    assert.ok(cached.every((byte) => byte === 0));
  });

  it('leaves nothing when sealed at onboarding', async () => {
    server.state.sealed = true;

    await assert.rejects(createTenant(stack, 'vt_sealed'), (error: Error & { code?: string; status?: number }) => {
      assert.equal(error.code, 'KEY_SERVICE_UNAVAILABLE');
      assert.equal(error.status, 503);
      return true;
    });
    await nothingLeft('vt_sealed');
  });

  it('leaves nothing when datakey is denied', async () => {
    server.state.denied = [/^transit\/datakey\//];

    await assert.rejects(createTenant(stack, 'vt_denied'), /Vault denied/);
    await nothingLeft('vt_denied');
  });

  it('leaves no key when the schema fails', async () => {
    const existing = await createTenant(stack, 'vt_first');
    await stack.services.pool.query('CREATE SCHEMA t_vt_clash');

    await assert.rejects(createTenant(stack, 'vt_clash'), /already exists/);
    assert.equal(server.keys.has('vt_clash'), false);
    assert.ok(server.keys.has(existing.code));
  });

  it('destroys the transit key on deletion', async () => {
    const tenant = await createTenant(stack, 'vt_delete');
    const record = { ...tenant, name: 'Tenant vt_delete', status: 'ACTIVE' as const, schemaVersion: tenant.schemaVersion, createdAt: new Date() };

    const report = await deleteTenant(stack.services, record, 'test');
    assert.equal(report.keyDestroyed, true);
    assert.equal(server.keys.has('vt_delete'), false);
    assert.ok(server.requests.includes('DELETE transit/keys/vt_delete'));
  });

  it('records a key left by a sealed Vault', async () => {
    const tenant = await createTenant(stack, 'vt_delete_sealed');
    const record = { ...tenant, name: 'Tenant vt_delete_sealed', status: 'ACTIVE' as const, schemaVersion: tenant.schemaVersion, createdAt: new Date() };
    server.state.sealed = true;

    const report = await deleteTenant(stack.services, record, 'test');
    assert.equal(report.keyDestroyed, false);
    assert.match(report.keyError ?? '', /sealed/);
    assert.ok(server.keys.has('vt_delete_sealed'));
    const { rows } = await stack.services.pool.query("SELECT 1 FROM control.audit_event WHERE tenant_id = $1 AND action = 'tenant.key_destroy_failed'", [tenant.id]);
    assert.equal(rows.length, 1);
    await nothingLeftButKey('vt_delete_sealed');
  });

  describe('rotation commands', () => {
    it('rotates, rewraps, raises the minimum', async () => {
      const tenant = await createTenant(stack, 'vt_rotate');
      const sealed = await stack.services.deks.withDek(tenant, (dek) => sealSecret(dek, tenant.id, Buffer.from('kept')));

      const rotated = await runStrata(stack, ['keys', 'rotate', '--tenant', 'vt_rotate'], { env });
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(rotated.stdout, /rotated to version 2; data key rewrapped from version 1 to 2/);
      const row = await registryRow(tenant.id);
      assert.equal(row.key_version, 2);
      assert.match(row.wrapped_dek, /^vault:v2:/);

      const raised = await runStrata(stack, ['keys', 'set-min-version', '--tenant', 'vt_rotate', '2'], { env });
      assert.equal(raised.code, 0, raised.stderr);
      assert.match(raised.stdout, /raised from 1 to 2/);
      assert.equal(server.keys.get('vt_rotate')?.minDecryptionVersion, 2);

      stack.services.deks.evict(tenant.id);
      const opened = await stack.services.deks.withDek(tenant, (dek) => openSecret(dek, tenant.id, sealed));
      assert.equal(opened.toString(), 'kept');

      const status = await runStrata(stack, ['keys', 'status', '--tenant', 'vt_rotate'], { env });
      assert.match(status.stdout, /latest 2, minimum for decryption 2/);
    });

    it('rejects the minimum over an old DEK', async () => {
      const tenant = await createTenant(stack, 'vt_stale');
      await stack.services.keys.rotateKey(tenant, 'vault:transit/keys/vt_stale');

      const rejected = await runStrata(stack, ['keys', 'set-min-version', '--tenant', 'vt_stale', '2'], { env });
      assert.equal(rejected.code, 1);
      assert.match(rejected.stderr, /control\.tenant\.wrapped_dek \(version 1\)/);
      assert.match(rejected.stderr, /strata keys rewrap --tenant vt_stale/);
      assert.equal(server.keys.get('vt_stale')?.minDecryptionVersion, 1);

      const rewrapped = await runStrata(stack, ['keys', 'rewrap', '--tenant', 'vt_stale'], { env });
      assert.equal(rewrapped.code, 0, rewrapped.stderr);
      const raised = await runStrata(stack, ['keys', 'set-min-version', '--tenant', 'vt_stale', '2'], { env });
      assert.equal(raised.code, 0, raised.stderr);
      assert.equal(server.keys.get('vt_stale')?.minDecryptionVersion, 2);
    });

    it('rejects a version that does not exist', async () => {
      await createTenant(stack, 'vt_future');

      const rejected = await runStrata(stack, ['keys', 'set-min-version', '--tenant', 'vt_future', '5'], { env });
      assert.equal(rejected.code, 1);
      assert.match(rejected.stderr, /versions up to 1/);
    });

    it('re-encrypts sealed values under a new DEK', async () => {
      const tenant = await createTenant(stack, 'vt_redek');
      await createFixture(tenant);
      const oldDek = await stack.services.deks.withDek(tenant, (dek) => Buffer.from(dek));
      await fillFixture(tenant, oldDek, 250);
      const oldWrapped = (await registryRow(tenant.id)).wrapped_dek;

      const result = await rotateTenantDek({ ...stack.services, columns: [FIXTURE, { ...FIXTURE, table: 'not_there' }], batchSize: 100 }, tenant, 'test');
      assert.equal(result.resumed, false);
      assert.deepEqual(result.columns[0], { table: 'sealed_fixture', column: 'sealed', present: true, scanned: 250, reencrypted: 250 });
      assert.equal(result.columns[1]!.present, false);

      const row = await registryRow(tenant.id);
      assert.notEqual(row.wrapped_dek, oldWrapped);
      assert.equal(row.pending_wrapped_dek, null);
      const values = await fixtureValues(tenant);
      const newDek = await stack.services.deks.withDek(tenant, (dek) => Buffer.from(dek));
      assert.ok(!newDek.equals(oldDek));
      for (const [index, sealed] of values.entries()) {
        assert.equal(openSecret(newDek, tenant.id, sealed).toString(), `secret-${index + 1}`);
        assert.throws(() => openSecret(oldDek, tenant.id, sealed));
      }
    });

    it('resumes an interrupted DEK rotation', async () => {
      const tenant = await createTenant(stack, 'vt_resume');
      await createFixture(tenant);
      const oldDek = await stack.services.deks.withDek(tenant, (dek) => Buffer.from(dek));
      await fillFixture(tenant, oldDek, 30);
      await stack.services.pool.query(`UPDATE t_vt_resume.sealed_fixture SET sealed = 'sv1:AAAA:AAAA:AAAA' WHERE id = 20`);

      await assert.rejects(
        rotateTenantDek({ ...stack.services, columns: [FIXTURE], batchSize: 10 }, tenant, 'test'),
        /row id=20 opens under neither/,
      );
      const interrupted = await registryRow(tenant.id);
      assert.match(interrupted.pending_wrapped_dek, /^vault:v1:/);

      await stack.services.pool.query(`UPDATE t_vt_resume.sealed_fixture SET sealed = $1 WHERE id = 20`, [sealSecret(oldDek, tenant.id, Buffer.from('secret-20'))]);
      const midway = await stack.services.deks.openSealed(tenant, (await fixtureValues(tenant))[0]!);
      assert.equal(midway.toString(), 'secret-1', 'a value already re-encrypted opens through the pending key');

      const result = await rotateTenantDek({ ...stack.services, columns: [FIXTURE], batchSize: 10 }, tenant, 'test');
      assert.equal(result.resumed, true);
      assert.equal(result.columns[0]!.reencrypted, 20, 'the first batch of 10 was kept; the failed batch rolled back');
      assert.equal((await registryRow(tenant.id)).wrapped_dek, interrupted.pending_wrapped_dek);
    });

    it('stops when the role lacks a grant', async () => {
      const tenant = await createTenant(stack, 'vt_grant');
      await createFixture(tenant);
      const dek = await stack.services.deks.withDek(tenant, (key) => Buffer.from(key));
      await fillFixture(tenant, dek, 3);
      await stack.services.pool.query(`REVOKE ALL ON ${tenant.schemaName}.sealed_fixture FROM ${Roles.api}`);
      const before = (await registryRow(tenant.id)).wrapped_dek;

      await assert.rejects(rotateTenantDek({ ...stack.services, columns: [FIXTURE] }, tenant, 'test'), /permission denied/);
      assert.equal((await registryRow(tenant.id)).wrapped_dek, before);
    });

    it('rotates the DEK through the CLI', async () => {
      await createTenant(stack, 'vt_cli_dek');

      const result = await runStrata(stack, ['keys', 'rotate-dek', '--tenant', 'vt_cli_dek'], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /data key replaced \(wrapped by key version 1\)/);
    });
  });

  describe('jobs and requests while Vault is down', () => {
    let tenant: ProvisionedTenant;
    before(async () => {
      tenant = await createTenant(stack, 'vt_jobs');
    });

    it('retries a DEK job while sealed', async () => {
      const before = (await registryRow(tenant.id)).wrapped_dek;
      server.state.sealed = true;

      const id = await stack.boss!.send(QueueNames.rotateDek, { tenantId: tenant.id }, { singletonKey: tenant.id });
      assert.ok(id);
      await waitFor(async () => (await stack.boss!.getJobById(QueueNames.rotateDek, id))?.state === 'retry', 'job in retry');
      assert.equal((await registryRow(tenant.id)).wrapped_dek, before);

      server.state.sealed = false;
      await waitFor(async () => (await stack.boss!.getJobById(QueueNames.rotateDek, id))?.state === 'completed', 'job completed', 30_000);
      assert.notEqual((await registryRow(tenant.id)).wrapped_dek, before);
    });

    it('logs in again when the token expires mid-job', async () => {
      const before = logins();
      server.expireTokens();

      const id = await stack.boss!.send(QueueNames.rotateDek, { tenantId: tenant.id }, { singletonKey: tenant.id });
      await waitFor(async () => (await stack.boss!.getJobById(QueueNames.rotateDek, id!))?.state === 'completed', 'job completed', 30_000);
      const job = await stack.boss!.getJobById(QueueNames.rotateDek, id!);
      assert.equal(job?.retryCount, 0);
      assert.equal(logins(), before + 1);
    });

    it('answers 503 with Retry-After for DEK requests', async () => {
      const app = new Koa();
      app.use(errorHandler);
      const router = new Router();
      router.get('/secret', async (ctx) => {
        ctx.body = { length: await stack.services.deks.withDek(tenant, (dek) => dek.length) };
      });
      app.use(router.routes());
      const http = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => http.once('listening', resolve));
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

      try {
        stack.services.deks.evict(tenant.id);
        server.state.sealed = true;
        const response = await call(url, 'GET', '/secret');
        assert.equal(response.status, 503);
        assert.equal(response.headers.get('retry-after'), '30');
        assert.equal(response.body.error.code, 'KEY_SERVICE_UNAVAILABLE');

        server.state.sealed = false;
        assert.equal((await call(url, 'GET', '/secret')).status, 200);
      } finally {
        await new Promise((resolve) => http.close(resolve));
      }
    });

    it('keeps ingest running while sealed', async () => {
      server.state.sealed = true;

      const readiness = await call(stack.api!.url, 'GET', '/readyz');
      assert.equal(readiness.status, 200);
      assert.equal(readiness.body.status, 'degraded');
      assert.equal(readiness.body.database, 'ok');
      assert.equal(readiness.body.keyService, 'sealed');

      const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
      const upload = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines([['D:\\a', 'x.txt', '1', '1', '1', '1']]));
      assert.ok(upload.status < 300, JSON.stringify(upload.body));
      const scan = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: 1 });
      assert.equal(scan.status, 'OK');

      const metrics = await call(stack.api!.url, 'GET', '/metrics');
      assert.match(metrics.body, /^strata_key_service_ready 0$/m);

      server.state.sealed = false;
      assert.equal((await call(stack.api!.url, 'GET', '/readyz')).body.status, 'ok');
      assert.match((await call(stack.api!.url, 'GET', '/metrics')).body, /^strata_key_service_ready 1$/m);
    });
  });

  async function createFixture(tenant: ProvisionedTenant): Promise<void> {
    const table = `${tenant.schemaName}.sealed_fixture`;
    await stack.services.pool.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, sealed text)`);
    await stack.services.pool.query(`GRANT SELECT, UPDATE ON ${table} TO ${Roles.api}`);
  }

  async function fillFixture(tenant: ProvisionedTenant, dek: Buffer, count: number): Promise<void> {
    const ids = Array.from({ length: count }, (_, index) => index + 1);
    const values = ids.map((id) => sealSecret(dek, tenant.id, Buffer.from(`secret-${id}`)));
    await stack.services.pool.query(`INSERT INTO ${tenant.schemaName}.sealed_fixture (id, sealed) SELECT * FROM unnest($1::bigint[], $2::text[])`, [ids, values]);
  }

  async function fixtureValues(tenant: ProvisionedTenant): Promise<string[]> {
    const { rows } = await stack.services.pool.query<{ sealed: string }>(`SELECT sealed FROM ${tenant.schemaName}.sealed_fixture ORDER BY id`);
    return rows.map((row) => row.sealed);
  }
});

describe('key commands with the local keyring', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack('local_keys', { api: false, workers: false });
  });
  after(() => stack?.close());

  it('rotates the DEK, rejects key rotation', async () => {
    const tenant = await createTenant(stack, 'lk_acme');
    const before = (await stack.services.pool.query('SELECT wrapped_dek FROM control.tenant WHERE id = $1', [tenant.id])).rows[0].wrapped_dek;

    const rotated = await runStrata(stack, ['keys', 'rotate-dek', '--tenant', 'lk_acme']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const after = (await stack.services.pool.query('SELECT wrapped_dek FROM control.tenant WHERE id = $1', [tenant.id])).rows[0].wrapped_dek;
    assert.notEqual(after, before);
    assert.match(after, /^local-v1:/);

    const rejected = await runStrata(stack, ['keys', 'rotate', '--tenant', 'lk_acme']);
    assert.equal(rejected.code, 1);
    assert.match(rejected.stderr, /needs the Vault key provider/);
  });

  it('prints help for keys', async () => {
    const help = await runStrata(stack, ['keys', 'set-min-version', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: strata keys set-min-version --tenant CODE N/);
  });
});

describe('readiness with an unusable key provider', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack('readyz_keys', { workers: false, env: { NODE_ENV: 'production' } });
  });
  after(() => stack?.close());

  it('reports the local keyring rejected', async () => {
    const readiness = await call(stack.api!.url, 'GET', '/readyz');

    assert.equal(readiness.status, 200);
    assert.equal(readiness.body.status, 'degraded');
    assert.equal(readiness.body.database, 'ok');
    assert.equal(readiness.body.keyService, 'unreachable');
  });
});

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
