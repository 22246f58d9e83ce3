import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import type pg from 'pg';
import { loadActingConfig, loadConfig, type ActingConfig, type IngestLimits, type SanitizeSettings } from '../config.ts';
import type { TargetDeps } from '../acting/targets.ts';
import type { IngestQueue } from '../ingest/ingestJobs.ts';
import type { KeyServiceHealth } from '../keys/keyProvider.ts';
import type { Logger } from '../log.ts';
import type { Services } from '../services.ts';
import { errorHandler } from './errorHandler.ts';
import { createApiMetrics, registerKeyServiceGauge, type ApiMetrics } from './metrics.ts';
import { actionRoutes } from './routes/actions.ts';
import { healthRoutes } from './routes/health.ts';
import { inventoryRoutes } from './routes/inventories.ts';
import { scanRoutes } from './routes/scans.ts';
import { shareTargetRoutes } from './routes/shareTargets.ts';

export interface AppDeps {
  pool: pg.Pool;
  queue: IngestQueue;
  limits: IngestLimits;
  log: Logger;
  metrics?: ApiMetrics;
  /** Chunk uploads streamed at once (default 12, as STRATA_MAX_CONCURRENT_CHUNKS). */
  maxConcurrentChunks?: number;
  /** Health of the key service for `/readyz`; omitted, the key service is not reported. */
  keyHealth?: () => Promise<KeyServiceHealth>;
  /** Leases, claim sizes and the error-rate stop; the STRATA_ACT_* defaults when absent. */
  acting?: ActingConfig;
  /** Tenants' data keys, to open Tier-2 target credentials; without them the target lookup returns 503. */
  deks?: TargetDeps['deks'];
  /** Inventory chunk limits; the STRATA_* defaults when absent. */
  sanitize?: SanitizeSettings;
}

/** Build the Koa application: request ids and logging, error mapping, then the routes. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  const metrics = deps.metrics ?? createApiMetrics();
  if (deps.keyHealth) registerKeyServiceGauge(metrics, deps.keyHealth);

  // errorHandler turns errors into responses; Koa's own 'error' event would print them again.
  app.silent = true;

  app.use(async (ctx, next) => {
    const requestId = ctx.get('x-request-id').slice(0, 64) || randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = deps.log.child({ requestId });
    ctx.set('X-Request-Id', requestId);

    const started = process.hrtime.bigint();
    await next();

    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    metrics.requests.inc({ method: ctx.method, route: String(ctx._matchedRoute ?? 'unmatched'), status: ctx.status });
    ctx.state.log.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms }, 'request done');
  });
  app.use(errorHandler);

  const routers = [
    healthRoutes(deps.pool, metrics, deps.keyHealth),
    scanRoutes({ ...deps, metrics, maxConcurrentChunks: deps.maxConcurrentChunks ?? 12 }),
    actionRoutes({ pool: deps.pool, acting: deps.acting ?? loadActingConfig({}), metrics }),
    shareTargetRoutes({ pool: deps.pool, deks: deps.deks }),
    inventoryRoutes({ pool: deps.pool, settings: deps.sanitize ?? loadConfig({}).sanitize }),
  ];
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }

  return app;
}

/** Build the API's dependencies from a process's services and its ingest queue. */
export function apiDepsFor(services: Services, queue: IngestQueue): AppDeps {
  const { config } = services;
  return {
    pool: services.pool,
    queue,
    limits: config.ingest,
    log: services.log,
    maxConcurrentChunks: config.maxConcurrentChunks,
    keyHealth: () => services.keys.health(),
    acting: config.acting,
    deks: services.deks,
    sanitize: config.sanitize,
  };
}
