import type { PgBoss } from 'pg-boss';
import { startApiServer, type RunningApi } from '../../src/api/server.ts';
import { loadConfig } from '../../src/config.ts';
import { assertSafeToServe, type SelfCheckReport } from '../../src/db/selfCheck/selfCheck.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { PgBossIngestQueue } from '../../src/jobs/pgBossIngestQueue.ts';
import { registerWorkers } from '../../src/jobs/workers.ts';
import { createLogger } from '../../src/log.ts';
import { openServices, type Services } from '../../src/services.ts';
import type { Stack } from './stack.ts';

export interface Serving {
  services: Services;
  boss: PgBoss;
  api: RunningApi;
  selfCheck: SelfCheckReport;
  /** Stop the API and pg-boss and close the pools; the stack's database stays. */
  close(): Promise<void>;
}

/**
 * Serve the stack's database as `strata api` and `strata worker` would on `url`
 * (another login, or a path through PgBouncer): the self-check without the
 * development override, then pg-boss with the ingest workers, then the API.
 */
export async function serveAs(
  stack: Stack,
  url: string,
  options: { bossMax?: number; env?: Record<string, string> } = {},
): Promise<Serving> {
  const config = loadConfig({ STRATA_DB_POOL_MAX: '8', ...options.env, DATABASE_URL: url, STRATA_KEYRING_DIR: stack.keyringDir });
  const log = createLogger(process.env.STRATA_TEST_LOG_LEVEL ?? 'silent');
  const services = await openServices(config, log, url);

  const selfCheck = await assertSafeToServe(services.pool, log);
  const boss = await startBoss(url, log, { max: options.bossMax ?? 4, listen: true });
  const queue = new PgBossIngestQueue(boss);
  await registerWorkers({ boss, pool: services.pool, log, finalizeConcurrency: 2, keepScans: 3, finalizeMemoryMb: 64, pollingIntervalSeconds: 0.5 });
  const api = await startApiServer({ pool: services.pool, queue, limits: config.ingest, log, maxConcurrentChunks: config.maxConcurrentChunks }, '127.0.0.1', 0);

  return {
    services,
    boss,
    api,
    selfCheck,
    close: async () => {
      await api.close();
      await boss.stop({ graceful: false, close: true, timeout: 5_000 });
      await services.close();
    },
  };
}
