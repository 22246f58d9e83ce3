import Router from '@koa/router';
import type pg from 'pg';
import type { ApiMetrics } from '../metrics.ts';

/**
 * `/healthz` responds while the process runs; `/readyz` also checks the database, so a
 * load balancer stops sending traffic to an instance that cannot reach it.
 */
export function healthRoutes(pool: pg.Pool, metrics: ApiMetrics): Router {
  const router = new Router();

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    try {
      await pool.query('SELECT 1');
      ctx.body = { status: 'ok', database: 'ok' };
    } catch (err) {
      ctx.state.log.warn({ err }, 'readiness check: database unreachable');
      ctx.status = 503;
      ctx.body = { status: 'unavailable', database: 'unreachable' };
    }
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  return router;
}
