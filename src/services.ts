import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.ts';
import { createPool } from './db/pool.ts';
import { createOrm } from './db/orm.ts';
import type { KeyProvider } from './keys/keyProvider.ts';
import { createKeyProvider } from './keys/createKeyProvider.ts';
import { TenantDeks } from './keys/tenantDeks.ts';
import type { Logger } from './log.ts';

/** The long-lived resources a command or server needs, opened once and closed together. */
export interface Services {
  config: Config;
  log: Logger;
  pool: pg.Pool;
  orm: MikroORM;
  keys: KeyProvider;
  /** Tenants' plaintext data keys, one callback at a time. */
  deks: TenantDeks;
  close(): Promise<void>;
}

export async function openServices(config: Config, log: Logger, databaseUrl: string): Promise<Services> {
  const pool = createPool(databaseUrl, config.dbPoolMax, log, { connectTimeoutMs: config.dbConnectTimeoutMs });
  const orm = await createOrm(databaseUrl, log);
  // Made on first use, so commands that need no key do not print the keyring warning
  // or log in to Vault.
  let keys: KeyProvider | undefined;
  const keyProvider = (): KeyProvider => {
    keys ??= createKeyProvider(config, log);
    return keys;
  };
  const deks = new TenantDeks(pool, keyProvider, { ttlMs: config.dekCacheTtlSeconds * 1000, maxUses: config.dekCacheMaxUses });

  return {
    config,
    log,
    pool,
    orm,
    get keys() {
      return keyProvider();
    },
    deks,
    async close() {
      deks.close();
      await keys?.close();
      await orm.close();
      await pool.end();
    },
  };
}
