import { startApiServer } from '../../api/server.ts';
import { requireDatabaseUrl } from '../../config.ts';
import { assertSafeToServe } from '../../db/selfCheck/selfCheck.ts';
import { startBoss } from '../../jobs/boss.ts';
import { PgBossIngestQueue } from '../../jobs/pgBossIngestQueue.ts';
import { registerWorkers } from '../../jobs/workers.ts';
import { createLogger } from '../../log.ts';
import { openServices } from '../../services.ts';
import { loadConfig } from '../../config.ts';
import { parseCommand } from '../args.ts';

export const apiUsage = `Usage: strata api

Serve the HTTP API on STRATA_HTTP_HOST:STRATA_HTTP_PORT (default 0.0.0.0:8080).
Run \`strata migrate\` first. Stops cleanly on SIGTERM or SIGINT.

Before serving it runs the checks of \`strata doctor\` and refuses to start when the
login or a function role can read around row-level security, or a tenant table, view
or SECURITY DEFINER function is not protected. STRATA_ALLOW_SUPERUSER=1 accepts a
superuser login for development, with a warning.`;

export const workerUsage = `Usage: strata worker

Run the pg-boss job handlers (scan.finalize), finishing up to
STRATA_FINALIZE_CONCURRENCY scans at once and keeping the last STRATA_SCAN_RETENTION
OK scans per share. Stops cleanly on SIGTERM or SIGINT.

Runs the checks of \`strata doctor\` first, as \`strata api\` does.`;

export async function runApi(argv: string[]): Promise<number> {
  parseCommand(argv, {}, apiUsage);
  return serve({ api: true, worker: false });
}

export async function runWorker(argv: string[]): Promise<number> {
  parseCommand(argv, {}, workerUsage);
  return serve({ api: false, worker: true });
}

/** Start the API, the workers or both, and run until SIGTERM or SIGINT. */
async function serve(roles: { api: boolean; worker: boolean }): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, { name: roles.api ? 'strata-api' : 'strata-worker' });
  const databaseUrl = requireDatabaseUrl(config);
  const services = await openServices(config, log, databaseUrl);

  try {
    await assertControlSchema(services.pool);
    await assertSafeToServe(services.pool, log, { allowPrivilegedLogin: config.allowSuperuser });
  } catch (error) {
    await services.close();
    log.flush();
    throw error;
  }
  const boss = await startBoss(databaseUrl, log);
  const queue = new PgBossIngestQueue(boss);

  if (roles.worker) {
    await registerWorkers({ boss, pool: services.pool, log, finalizeConcurrency: config.finalizeConcurrency, keepScans: config.scanRetention, finalizeMemoryMb: config.finalizeMemoryMb, keys: { provider: () => services.keys, deks: services.deks } });
    log.info({ concurrency: config.finalizeConcurrency, scanRetention: config.scanRetention }, 'worker started');
  }
  const api = roles.api
    ? await startApiServer(
        {
          pool: services.pool,
          queue,
          limits: config.ingest,
          log,
          maxConcurrentChunks: config.maxConcurrentChunks,
          keyHealth: () => services.keys.health(),
          acting: config.acting,
          deks: services.deks,
        },
        config.httpHost,
        config.httpPort,
      )
    : undefined;
  if (api) log.info({ url: api.url }, 'API listening');

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });

  log.info('stopping');
  await api?.close();
  await boss.stop({ graceful: true, timeout: 30_000 });
  await services.close();
  log.info('stopped');
  log.flush();
  return 0;
}

async function assertControlSchema(pool: import('pg').Pool): Promise<void> {
  const { rows } = await pool.query<{ present: boolean }>("SELECT to_regclass('control.tenant') IS NOT NULL AS present");
  if (!rows[0]?.present) throw new Error('the control schema is missing; run `strata migrate` first');
}
