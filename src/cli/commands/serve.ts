import { apiDepsFor } from '../../api/app.ts';
import { startApiServer } from '../../api/server.ts';
import { requireDatabaseUrl } from '../../config.ts';
import { assertSafeToServe } from '../../db/selfCheck/selfCheck.ts';
import { startBoss } from '../../jobs/boss.ts';
import { PgBossIngestQueue } from '../../jobs/pgBossIngestQueue.ts';
import { registerWorkers } from '../../jobs/workers.ts';
import { createLogger, type Logger } from '../../log.ts';
import { openServices } from '../../services.ts';
import { loadConfig } from '../../config.ts';
import { targetStores } from '../../sanitize/targetStores.ts';
import { parseCommand } from '../args.ts';

export const apiUsage = `Usage: strata api

Serve the HTTP API on STRATA_HTTP_HOST:STRATA_HTTP_PORT (default 0.0.0.0:8080).
Run \`strata migrate\` first. Stops cleanly on SIGTERM or SIGINT.

Before serving it runs the checks of \`strata doctor\` and refuses to start when the
login or a function role can read around row-level security, or a tenant table, view
or SECURITY DEFINER function is not protected. STRATA_ALLOW_SUPERUSER=1 accepts a
superuser login for development, with a warning.`;

export const workerUsage = `Usage: strata worker

Run the pg-boss job handlers (scan.finalize, tier2.inventory, sanitize.reconcile,
remediation.execute), finishing up to
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
  const boss = await startBoss(databaseUrl, log, { listen: roles.worker });
  const queue = new PgBossIngestQueue(boss);

  if (roles.worker) {
    await registerWorkers({
      boss,
      pool: services.pool,
      log,
      finalizeConcurrency: config.finalizeConcurrency,
      keepScans: config.scanRetention,
      finalizeMemoryMb: config.finalizeMemoryMb,
      keys: { provider: () => services.keys, deks: services.deks },
      sanitize: { settings: config.sanitize, tier2Stores: targetStores(services), afterRemediationAction: exitAfter(config.sanitize.faultExitAfterActions, log) },
    });
    log.info({ concurrency: config.finalizeConcurrency, scanRetention: config.scanRetention }, 'worker started');
  }
  const api = roles.api
    ? await startApiServer(
        { ...apiDepsFor(services, queue), log },
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

/**
 * Build the fault hook of STRATA_FAULT_EXIT_AFTER_ACTIONS, which ends the process at
 * once, as a kill would, after this many remediation actions are recorded. Returns
 * undefined when the setting is off.
 */
function exitAfter(actions: number, log: Logger): ((recorded: number) => void) | undefined {
  if (actions === 0) return undefined;
  log.warn({ actions }, 'fault injection: this worker exits after recording that many remediation actions');
  return (recorded) => {
    if (recorded >= actions) {
      log.warn({ recorded }, 'fault injection: exiting now');
      log.flush();
      process.exit(137);
    }
  };
}
