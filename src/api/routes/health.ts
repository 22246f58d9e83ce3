import Router from '@koa/router';
import type pg from 'pg';
import type { KeyServiceHealth } from '../../keys/keyProvider.ts';
import type { ApiMetrics } from '../metrics.ts';

/**
 * `/healthz` responds while the process runs. `/readyz` also checks the database, so a
 * load balancer stops sending traffic to an instance that cannot reach it, and reports
 * the key service on its own line. A sealed or unreachable Vault makes the status
 * `degraded` but keeps the 200: ingest needs no tenant key and carries on, while
 * requests that need one get 503 with Retry-After.
 */
export function healthRoutes(pool: pg.Pool, metrics: ApiMetrics, keyHealth?: () => Promise<KeyServiceHealth>): Router {
  const router = new Router();

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const [database, keys] = await Promise.all([
      pool.query('SELECT 1').then(
        () => 'ok' as const,
        (err: unknown) => {
          ctx.state.log.warn({ err }, 'readiness check: database unreachable');
          return 'unreachable' as const;
        },
      ),
      // Through a promise, so a provider that fails while being built (the local
      // keyring under NODE_ENV=production) is reported rather than thrown.
      keyHealth && Promise.resolve().then(keyHealth).catch((err: unknown): KeyServiceHealth => {
        ctx.state.log.warn({ err }, 'readiness check: key service check failed');
        return { status: 'unreachable' };
      }),
    ]);
    if (keys && keys.status !== 'ok') ctx.state.log.warn({ keyService: keys }, 'readiness check: key service not ready');

    const keyFields = keys ? { keyService: keys.status } : {};
    if (database !== 'ok') {
      ctx.status = 503;
      ctx.body = { status: 'unavailable', database, ...keyFields };
      return;
    }
    ctx.body = { status: keys && keys.status !== 'ok' ? 'degraded' : 'ok', database, ...keyFields };
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  return router;
}
