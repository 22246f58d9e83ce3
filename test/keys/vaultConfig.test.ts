import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('Vault configuration', () => {
  const vault = { STRATA_KEY_PROVIDER: 'vault', VAULT_ADDR: 'https://vault.example:8200' };

  it('reads token auth and defaults', () => {
    const config = loadConfig({ ...vault, VAULT_TOKEN: 't' });

    assert.equal(config.keyProvider, 'vault');
    assert.deepEqual(config.vault, {
      address: 'https://vault.example:8200',
      namespace: undefined,
      transitMount: 'transit',
      caCertPath: undefined,
      requestTimeoutMs: 5000,
      auth: { method: 'token', token: 't' },
    });
    assert.equal(config.dekCacheTtlSeconds, 300);
    assert.equal(config.dekCacheMaxUses, 10_000);
  });

  it('prefers AppRole, secret id from a file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-vault-config-'));
    const file = path.join(dir, 'secret-id');
    await writeFile(file, 'from-file\n');
    try {
      const config = loadConfig({ ...vault, VAULT_TOKEN: 't', STRATA_VAULT_ROLE_ID: 'role', STRATA_VAULT_SECRET_ID_FILE: file });
      assert.deepEqual(config.vault?.auth, { method: 'approle', mount: 'approle', roleId: 'role', secretId: 'from-file' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects incomplete or unsafe settings', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ STRATA_KEY_PROVIDER: 'vault', VAULT_TOKEN: 't' }, /VAULT_ADDR is not set/],
      [{ ...vault }, /needs credentials/],
      [{ ...vault, STRATA_VAULT_ROLE_ID: 'role' }, /no secret id/],
      [{ ...vault, VAULT_TOKEN: 't', VAULT_ADDR: 'vault:8200' }, /VAULT_ADDR must be an http/],
      [{ ...vault, VAULT_TOKEN: 't', VAULT_ADDR: 'http://vault.example:8200', NODE_ENV: 'production' }, /plain http/],
      [{ ...vault, VAULT_TOKEN: 't', STRATA_VAULT_TRANSIT_MOUNT: '../sys' }, /STRATA_VAULT_TRANSIT_MOUNT must be a mount path/],
      [{ STRATA_KEY_PROVIDER: 'kms' }, /must be one of local, vault/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }
  });

  it('accepts plain http to loopback in production', () => {
    const config = loadConfig({ ...vault, VAULT_TOKEN: 't', VAULT_ADDR: 'http://127.0.0.1:8200/', NODE_ENV: 'production' });
    assert.equal(config.vault?.address, 'http://127.0.0.1:8200');
  });
});
