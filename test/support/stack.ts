import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PgBoss } from 'pg-boss';
import { apiDepsFor } from '../../src/api/app.ts';
import { startApiServer, type RunningApi } from '../../src/api/server.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { PgBossIngestQueue } from '../../src/jobs/pgBossIngestQueue.ts';
import { registerWorkers } from '../../src/jobs/workers.ts';
import { createLogger } from '../../src/log.ts';
import { openServices, type Services } from '../../src/services.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { provisionTenant, type ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export interface Stack {
  db: TestDatabase;
  config: Config;
  services: Services;
  keyringDir: string;
  boss?: PgBoss;
  queue?: PgBossIngestQueue;
  api?: RunningApi;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Register the ingest workers (default true); pg-boss itself starts whenever the API does. */
  workers?: boolean;
  /** Start the HTTP API on 127.0.0.1 (default true). */
  api?: boolean;
  /** Start pg-boss even without API or workers, to look at queued jobs (default false). */
  boss?: boolean;
  /** Environment overrides, e.g. smaller ingest limits. */
  env?: Record<string, string>;
}

/**
 * Start a real stack for one test file: its own migrated database, the services, and
 * by default pg-boss with workers and the API on a free port. `close` stops
 * everything and drops the database.
 */
export async function startStack(label: string, options: StackOptions = {}): Promise<Stack> {
  const db = await createTestDatabase(label);
  const keyringDir = await mkdtemp(path.join(os.tmpdir(), 'strata-test-keyring-'));
  const config = loadConfig({ STRATA_DB_POOL_MAX: '8', ...options.env, DATABASE_URL: db.url, STRATA_KEYRING_DIR: keyringDir });
  const log = createLogger(process.env.STRATA_TEST_LOG_LEVEL ?? 'silent');

  const services = await openServices(config, log, db.url);
  await migrateControl(services.pool, services.orm);

  const stack: Stack = { db, config, services, keyringDir, close: async () => {} };
  const wantApi = options.api ?? true;
  const wantWorkers = options.workers ?? true;
  if (wantApi || options.workers === true || options.boss === true) {
    stack.boss = await startBoss(db.url, log, { max: 4, listen: wantWorkers });
    stack.queue = new PgBossIngestQueue(stack.boss);
    if (wantWorkers) await startWorkers(stack);
  }
  if (wantApi && stack.queue) {
    stack.api = await startApiServer(apiDepsFor(services, stack.queue), '127.0.0.1', 0);
  }

  stack.close = async () => {
    await stack.api?.close();
    await stack.boss?.stop({ graceful: false, close: true, timeout: 5_000 });
    await services.close();
    await db.drop();
    await rm(keyringDir, { recursive: true, force: true });
  };
  return stack;
}

/** Register the ingest workers on the stack's pg-boss, polling every half second. */
export async function startWorkers(stack: Stack): Promise<void> {
  await registerWorkers({
    boss: stack.boss!,
    pool: stack.services.pool,
    log: stack.services.log,
    finalizeConcurrency: 2,
    keepScans: 3,
    finalizeMemoryMb: 64,
    pollingIntervalSeconds: 0.5,
    keys: { provider: () => stack.services.keys, deks: stack.services.deks },
  });
}

/** Provision a tenant on the stack with the real template. */
export function createTenant(stack: Stack, code: string): Promise<ProvisionedTenant> {
  return provisionTenant(stack.services, { code, name: `Tenant ${code}` });
}
