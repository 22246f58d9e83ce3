import Router from '@koa/router';
import type { Context } from 'koa';
import type pg from 'pg';
import { claimActions } from '../../acting/claimActions.ts';
import { recordResults, type RecordedResults } from '../../acting/recordResults.ts';
import { renewLeases } from '../../acting/renewLeases.ts';
import type { ActingConfig } from '../../config.ts';
import type { Principal } from '../../control/authenticate.ts';
import { StrataError } from '../../errors.ts';
import type { ActionResultBatchResponse, ClaimResponse, RenewLeasesResponse } from '../../wire/acting.ts';
import { requireScope } from '../authenticateRequest.ts';
import { readJsonBody } from '../jsonBody.ts';
import type { ApiMetrics } from '../metrics.ts';
import { assertValid, validateActionParams, validateClaim, validateRenew, validateResult, validateResultBatch } from '../schemas.ts';

export interface ActionRouteDeps {
  pool: pg.Pool;
  acting: ActingConfig;
  metrics: ApiMetrics;
}

/** Largest results batch body: 1,000 results with 2,000-character errors fit. */
const MAX_RESULTS_BODY_BYTES = 4 * 1024 * 1024;

/** Largest renewal body: 10,000 ids and fences of 19 digits fit. */
const MAX_RENEW_BODY_BYTES = 1024 * 1024;

/** Build the acting routes: claim actions under a lease, renew leases, report results. */
export function actionRoutes(deps: ActionRouteDeps): Router {
  const router = new Router({ prefix: '/v1/actions' });
  const act = requireScope(deps.pool, 'act');

  router.post('/claim', act, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const request = assertValid(validateClaim, await readJsonBody(ctx), 'claim');

    const stopTimer = deps.metrics.claimSeconds.startTimer({ kind: request.kind });
    const actions = await claimActions(deps.pool, deps.acting, principal, request);
    stopTimer();

    deps.metrics.actionsClaimed.inc({ kind: request.kind }, actions.length);
    if (actions.length > 0) ctx.state.log.info({ share: request.share, kind: request.kind, count: actions.length }, 'actions claimed');
    const body: ClaimResponse = { actions };
    ctx.body = body;
  });

  router.post('/results', act, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const batch = assertValid(validateResultBatch, await readJsonBody(ctx, MAX_RESULTS_BODY_BYTES), 'results');

    const recorded = await recordResults(deps.pool, deps.acting, principal, batch.results);
    observe(ctx, deps.metrics, recorded);
    const body: ActionResultBatchResponse = {
      results: recorded.verdicts.map((verdict) => ({ id: verdict.id, accepted: verdict.accepted, ...(verdict.reason ? { reason: verdict.reason } : {}) })),
    };
    ctx.body = body;
  });

  router.post('/renew', act, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const request = assertValid(validateRenew, await readJsonBody(ctx, MAX_RENEW_BODY_BYTES), 'renew');

    const body: RenewLeasesResponse = await renewLeases(deps.pool, deps.acting, principal, request);
    for (const lease of body.leases) deps.metrics.leaseRenewals.inc({ result: lease.renewed ? 'renewed' : 'lost' });
    const lost = body.leases.filter((lease) => !lease.renewed).length;
    if (lost > 0) ctx.state.log.info({ renewed: body.leases.length - lost, lost }, 'leases not renewed');
    ctx.body = body;
  });

  router.post('/:id/result', act, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const { id } = assertValid(validateActionParams, ctx.params, 'path');
    const result = assertValid(validateResult, await readJsonBody(ctx), 'result');

    const recorded = await recordResults(deps.pool, deps.acting, principal, [{ ...result, id }]);
    observe(ctx, deps.metrics, recorded);
    const verdict = recorded.verdicts[0]!;
    if (verdict.verdict === 'not_found') throw StrataError.notFound(`action ${id}`);
    if (verdict.verdict === 'wrong_outcome') throw StrataError.invalid('WRONG_OUTCOME', `action ${id}: ${verdict.reason}`);
    if (!verdict.accepted) throw StrataError.conflict(verdict.verdict.toUpperCase(), `action ${id}: ${verdict.reason}`);
    ctx.body = { id, accepted: true };
  });

  return router;
}

function observe(ctx: Context, metrics: ApiMetrics, recorded: RecordedResults): void {
  for (const verdict of recorded.verdicts) metrics.actionResults.inc({ outcome: verdict.outcome, verdict: verdict.verdict });
  for (const share of recorded.paused) {
    metrics.sharesPaused.inc();
    ctx.state.log.warn(share, 'claims paused: failure rate above the limit');
  }
}
