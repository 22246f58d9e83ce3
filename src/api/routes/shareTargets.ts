import Router from '@koa/router';
import type pg from 'pg';
import { shareTarget } from '../../acting/shareTarget.ts';
import type { Principal } from '../../control/authenticate.ts';
import { requireScope } from '../authenticateRequest.ts';
import { assertValid, validateShareParams } from '../schemas.ts';

/**
 * `GET /v1/shares/{share}/target`: the share's Tier-2 target with its credentials, for
 * agents (scope act). The body is never logged, and the response must not be cached.
 */
export function shareTargetRoutes(pool: pg.Pool): Router {
  const router = new Router({ prefix: '/v1/shares' });

  router.get('/:share/target', requireScope(pool, 'act'), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const { share } = assertValid(validateShareParams, ctx.params, 'path');

    ctx.set('Cache-Control', 'no-store');
    ctx.body = await shareTarget(pool, principal.tenant, share);
    ctx.state.log.info({ share }, 'target sent');
  });

  return router;
}
