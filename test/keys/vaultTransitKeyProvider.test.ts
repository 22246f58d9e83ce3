import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../src/log.ts';
import { KeyServiceUnavailableError } from '../../src/keys/keyErrors.ts';
import type { TenantKeyOwner, WrappedDek } from '../../src/keys/keyProvider.ts';
import { VaultTransitKeyProvider } from '../../src/keys/vault/vaultTransitKeyProvider.ts';
import { realVaultAvailable, startTransitTarget, uniqueCode, type TransitTarget } from '../support/transitTarget.ts';

const log = createLogger(process.env.STRATA_TEST_LOG_LEVEL ?? 'silent');

for (const kind of ['test server', 'real Vault'] as const) {
  const describeTarget = kind === 'real Vault' && !realVaultAvailable() ? describe.skip : describe;

  describeTarget(`VaultTransitKeyProvider against a ${kind}`, () => {
    let target: TransitTarget;
    let provider: VaultTransitKeyProvider;
    const createdKeys: { owner: TenantKeyOwner; keyRef: string }[] = [];

    before(async () => {
      target = await startTransitTarget(kind);
      provider = new VaultTransitKeyProvider(target.vaultConfig(), log);
    });
    afterEach(() => {
      if (target.server) target.server.state.sealed = false;
      if (target.server) target.server.state.denied = [];
    });
    after(async () => {
      for (const { owner, keyRef } of createdKeys) await provider.destroyTenantKey(owner, keyRef);
      await provider?.close();
      await target?.close();
    });

    async function onboard(prefix: string): Promise<{ owner: TenantKeyOwner; key: WrappedDek }> {
      const owner = { id: randomUUID(), code: uniqueCode(prefix) };
      const key = await provider.createTenantKey(owner);
      createdKeys.push({ owner, keyRef: key.keyRef });
      return { owner, key };
    }

    it('creates a locked-down key and wrapped DEK', async () => {
      const { owner, key } = await onboard('kp_new');

      assert.equal(key.keyRef, `vault:transit/keys/${owner.code}`);
      assert.match(key.wrappedDek, /^vault:v1:/);
      assert.equal(key.keyVersion, 1);
      assert.deepEqual(await provider.readVersions(owner, key.keyRef), { latestVersion: 1, minDecryptionVersion: 1 });

      const stored = target.server?.keys.get(owner.code);
      if (stored) {
        assert.equal(stored.type, 'aes256-gcm96');
        assert.equal(stored.exportable, false);
        assert.equal(stored.allowPlaintextBackup, false);
        assert.equal(stored.deletionAllowed, false);
      }
    });

    it('unwraps the same 32-byte DEK each time', async () => {
      const { owner, key } = await onboard('kp_unwrap');

      const first = await provider.unwrapDek(owner, key);
      const second = await provider.unwrapDek(owner, key);
      assert.equal(first.length, 32);
      assert.ok(first.equals(second));
      assert.ok(!key.wrappedDek.includes(first.toString('base64')));
    });

    it("rejects another tenant's wrapped DEK", async () => {
      const a = await onboard('kp_cross_a');
      const b = await onboard('kp_cross_b');

      await assert.rejects(provider.unwrapDek(b.owner, { keyRef: b.key.keyRef, wrappedDek: a.key.wrappedDek }), /Vault rejected .*decrypt.* 400/);
    });

    it('rejects a key reference outside the mount', async () => {
      const { owner } = await onboard('kp_ref');

      await assert.rejects(provider.unwrapDek(owner, { keyRef: `vault:other/keys/${owner.code}`, wrappedDek: 'vault:v1:AAAA' }), /KEY_REF|not a transit key/);
      await assert.rejects(provider.unwrapDek(owner, { keyRef: `local:${owner.id}`, wrappedDek: 'x' }), /another key provider/);
    });

    it('rotates, rewraps, then retires version 1', async () => {
      const { owner, key } = await onboard('kp_rotate');
      const dek = await provider.unwrapDek(owner, key);

      assert.equal(await provider.rotateKey(owner, key.keyRef), 2);
      const rewrapped = await provider.rewrapDek(owner, key);
      assert.match(rewrapped.wrappedDek, /^vault:v2:/);
      assert.equal(rewrapped.keyVersion, 2);
      assert.ok((await provider.unwrapDek(owner, rewrapped)).equals(dek));

      await provider.setMinDecryptionVersion(owner, key.keyRef, 2);
      assert.deepEqual(await provider.readVersions(owner, key.keyRef), { latestVersion: 2, minDecryptionVersion: 2 });
      await assert.rejects(provider.unwrapDek(owner, key), /Vault rejected .* 400/);
      assert.ok((await provider.unwrapDek(owner, rewrapped)).equals(dek));
    });

    it('makes further DEKs under the same key', async () => {
      const { owner, key } = await onboard('kp_more');
      const next = await provider.createDek(owner, key.keyRef);

      assert.notEqual(next.wrappedDek, key.wrappedDek);
      assert.ok(!(await provider.unwrapDek(owner, next)).equals(await provider.unwrapDek(owner, key)));
    });

    it('refuses to reuse an existing transit key', async () => {
      const { owner } = await onboard('kp_twice');

      await assert.rejects(provider.createTenantKey({ id: randomUUID(), code: owner.code }), /TRANSIT_KEY_EXISTS|already exists/);
    });

    it('destroys the key, shredding its DEK', async () => {
      const owner = { id: randomUUID(), code: uniqueCode('kp_shred') };
      const key = await provider.createTenantKey(owner);

      await provider.destroyTenantKey(owner, key.keyRef);
      await assert.rejects(provider.unwrapDek(owner, key), /Vault rejected/);
      await provider.destroyTenantKey(owner, key.keyRef);
    });

    it('reports health', async () => {
      assert.deepEqual(await provider.health(), { status: 'ok' });
    });

    describe('failures (test server only)', () => {
      before(function () {
        if (!target.server) this.skip();
      });

      it('reports a denied token as not ready', async () => {
        const server = target.server!;
        server.state.denied = [/^auth\/token\/lookup-self$/];
        try {
          const health = await provider.health();
          assert.equal(health.status, 'denied');
        } finally {
          server.state.denied = [];
        }
        assert.deepEqual(await provider.health(), { status: 'ok' });
      });

      it('fails closed when sealed at onboarding', async () => {
        const server = target.server!;
        const code = uniqueCode('kp_sealed');
        server.state.sealed = true;

        const error = await provider.createTenantKey({ id: randomUUID(), code }).catch((caught: unknown) => caught);
        assert.ok(error instanceof KeyServiceUnavailableError);
        assert.equal(error.reason, 'sealed');
        assert.equal(error.status, 503);
        assert.equal(error.details.retryAfterSeconds, 30);
        assert.equal(server.keys.has(code), false);
        assert.deepEqual(await provider.health(), { status: 'sealed' });
      });

      it('deletes the new key when datakey is denied', async () => {
        const server = target.server!;
        const code = uniqueCode('kp_denied');
        server.state.denied = [/^transit\/datakey\//];

        const error = await provider.createTenantKey({ id: randomUUID(), code }).catch((caught: unknown) => caught);
        assert.ok(error instanceof KeyServiceUnavailableError);
        assert.equal(error.reason, 'denied');
        assert.equal(server.keys.has(code), false);
        assert.ok(server.requests.includes(`DELETE transit/keys/${code}`));
      });

      it('fails closed when sealed at unwrap', async () => {
        const { owner, key } = await onboard('kp_sealed_unwrap');
        target.server!.state.sealed = true;

        await assert.rejects(provider.unwrapDek(owner, key), (error: unknown) => error instanceof KeyServiceUnavailableError && error.reason === 'sealed');
      });

      it('reports an unreachable Vault', async () => {
        const closed = new VaultTransitKeyProvider(target.vaultConfig({ VAULT_ADDR: 'http://127.0.0.1:9', STRATA_VAULT_TIMEOUT_MS: '1000' }), log);
        try {
          const error = await closed.createTenantKey({ id: randomUUID(), code: 'kp_gone' }).catch((caught: unknown) => caught);
          assert.ok(error instanceof KeyServiceUnavailableError);
          assert.equal(error.reason, 'unreachable');
          assert.equal((await closed.health()).status, 'unreachable');
        } finally {
          await closed.close();
        }
      });

      it('sends the namespace header', async () => {
        const server = target.server!;
        const scoped = new VaultTransitKeyProvider(target.vaultConfig({ VAULT_NAMESPACE: 'team-a' }), log);
        try {
          server.namespaces.length = 0;
          await scoped.readVersions({ id: randomUUID(), code: 'x' }, 'vault:transit/keys/kp_absent').catch(() => undefined);
          assert.ok(server.namespaces.includes('team-a'));
        } finally {
          await scoped.close();
        }
      });

      it('logs in again after AppRole token expiry', async () => {
        const server = target.server!;
        const approle = new VaultTransitKeyProvider(
          target.vaultConfig({ VAULT_TOKEN: '', STRATA_VAULT_ROLE_ID: server.approle.roleId, STRATA_VAULT_SECRET_ID: server.approle.secretId }),
          log,
        );
        try {
          const owner = { id: randomUUID(), code: uniqueCode('kp_approle') };
          const key = await approle.createTenantKey(owner);
          createdKeys.push({ owner, keyRef: key.keyRef });
          const logins = () => server.requests.filter((request) => request === 'POST auth/approle/login').length;
          const before = logins();

          server.expireTokens();
          assert.equal((await approle.unwrapDek(owner, key)).length, 32);
          assert.equal(logins(), before + 1);
        } finally {
          await approle.close();
        }
      });

      it('renews the AppRole token before its TTL', async () => {
        const server = target.server!;
        server.state.tokenTtlSeconds = 2;
        const approle = new VaultTransitKeyProvider(
          target.vaultConfig({ VAULT_TOKEN: '', STRATA_VAULT_ROLE_ID: server.approle.roleId, STRATA_VAULT_SECRET_ID: server.approle.secretId }),
          log,
        );
        try {
          await approle.readVersions({ id: randomUUID(), code: 'x' }, 'vault:transit/keys/kp_absent').catch(() => undefined);
          const renewalsBefore = server.requests.filter((request) => request === 'POST auth/token/renew-self').length;
          await new Promise((resolve) => setTimeout(resolve, 2_500));

          const renewals = server.requests.filter((request) => request === 'POST auth/token/renew-self').length;
          assert.ok(renewals > renewalsBefore, `expected a renew-self, saw ${renewals - renewalsBefore}`);
        } finally {
          server.state.tokenTtlSeconds = 3600;
          await approle.close();
        }
      });

      it('reports a wrong AppRole secret as denied', async () => {
        const server = target.server!;
        const wrong = new VaultTransitKeyProvider(
          target.vaultConfig({ VAULT_TOKEN: '', STRATA_VAULT_ROLE_ID: server.approle.roleId, STRATA_VAULT_SECRET_ID: 'wrong' }),
          log,
        );
        try {
          const error = await wrong.readVersions({ id: randomUUID(), code: 'x' }, 'vault:transit/keys/kp_absent').catch((caught: unknown) => caught);
          assert.ok(error instanceof KeyServiceUnavailableError);
          assert.equal(error.reason, 'denied');
          assert.match(error.message, /AppRole login.*approle\/login with 400/);
        } finally {
          await wrong.close();
        }
      });
    });
  });
}

describe('Vault client errors', () => {
  it('keep no token or secret id', async () => {
    const { classifyVaultError } = await import('../../src/keys/vault/vaultErrors.ts');
    const axiosLike = Object.assign(new Error('timeout of 5000ms exceeded'), {
      code: 'ECONNABORTED',
      config: { headers: { 'X-Vault-Token': 's.secret-token' }, data: '{"secret_id":"secret-id-value"}' },
    });

    const classified = classifyVaultError(axiosLike, 'auth/approle/login');
    const serialised = JSON.stringify(classified) + JSON.stringify(classified.cause) + String((classified.cause as Error).stack);
    assert.ok(!serialised.includes('s.secret-token'));
    assert.ok(!serialised.includes('secret-id-value'));
    assert.match(classified.message, /unreachable \(ECONNABORTED\)/);
  });
});

describe('VaultTransitKeyProvider over TLS', () => {
  let dir: string | undefined;
  let server: import('../support/transitServer.ts').TransitServer | undefined;

  before(async function () {
    const { spawnSync } = await import('node:child_process');
    const { mkdtemp, readFile } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-vault-tls-'));
    const certificate = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ]);
    if (certificate.error || certificate.status !== 0) {
      console.log('    (skipped: openssl could not make a test certificate)');
      this.skip();
    }
    const { startTransitServer } = await import('../support/transitServer.ts');
    server = await startTransitServer({ tls: { key: await readFile(path.join(dir, 'key.pem')), cert: await readFile(path.join(dir, 'cert.pem')) } });
  });
  after(async () => {
    await server?.close();
    if (dir) await (await import('node:fs/promises')).rm(dir, { recursive: true, force: true });
  });

  it('trusts only the configured CA', async () => {
    const { loadConfig } = await import('../../src/config.ts');
    const path = await import('node:path');
    const env = { STRATA_KEY_PROVIDER: 'vault', VAULT_ADDR: server!.url, VAULT_TOKEN: server!.rootToken, STRATA_VAULT_TIMEOUT_MS: '2000' };
    const trusted = new VaultTransitKeyProvider(loadConfig({ ...env, VAULT_CACERT: path.join(dir!, 'cert.pem') }).vault!, log);
    const untrusted = new VaultTransitKeyProvider(loadConfig(env).vault!, log);
    const skipVerify = process.env.VAULT_SKIP_VERIFY;
    process.env.VAULT_SKIP_VERIFY = '1';
    const stillUntrusted = new VaultTransitKeyProvider(loadConfig(env).vault!, log);
    if (skipVerify === undefined) delete process.env.VAULT_SKIP_VERIFY;
    else process.env.VAULT_SKIP_VERIFY = skipVerify;

    try {
      const key = await trusted.createTenantKey({ id: randomUUID(), code: 'tls_acme' });
      assert.match(key.wrappedDek, /^vault:v1:/);
      await assert.rejects(untrusted.createTenantKey({ id: randomUUID(), code: 'tls_other' }), (error: unknown) => error instanceof KeyServiceUnavailableError && error.reason === 'unreachable');
      await assert.rejects(stillUntrusted.createTenantKey({ id: randomUUID(), code: 'tls_third' }), KeyServiceUnavailableError);
    } finally {
      await trusted.close();
      await untrusted.close();
      await stillUntrusted.close();
    }
  });
});
