import Router from '@koa/router';
import type pg from 'pg';
import { shareTarget } from '../../acting/shareTarget.ts';
import type { TargetDeps } from '../../acting/targets.ts';
import type { Principal } from '../../control/authenticate.ts';
import { requireScope } from '../authenticateRequest.ts';
import { assertValid, validateShareParams } from '../schemas.ts';

export interface ShareTargetRouteDeps {
  pool: pg.Pool;
  /** Tenants' data keys; without them the lookup returns 503. */
  deks?: TargetDeps['deks'];
}

/**
 * `GET /v1/shares/{share}/target`: the share's Tier-2 target with its credentials, for
 * agents (scope act). The body is never logged, and the response must not be cached.
 */
export function shareTargetRoutes(deps: ShareTargetRouteDeps): Router {
  const router = new Router({ prefix: '/v1/shares' });

  router.get('/:share/target', requireScope(deps.pool, 'act'), async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const { share } = assertValid(validateShareParams, ctx.params, 'path');

    ctx.set('Cache-Control', 'no-store');
    const target = await shareTarget(deps.pool, deps.deks, principal, share);
    ctx.body = target;
    ctx.state.log.info({ share, kind: target.kind }, 'target sent');
  });

  return router;
}
