import type pg from 'pg';
import type { ActingConfig } from '../config.ts';
import type { Principal } from '../control/authenticate.ts';
import { Roles } from '../db/roles.ts';
import { withTenant } from '../db/tenantContext.ts';
import type { ActionResult } from '../wire/acting.ts';
import { pauseFailingShares, type PausedShare } from './errorRateStop.ts';
import { PRUNE_BATCH, PRUNE_INTERVAL_SECONDS, PRUNE_RESULT_LOG } from './sql/pruneResultLog.ts';
import { RECORD_RESULTS } from './sql/recordResults.ts';

export type Verdict = 'apply' | 'duplicate' | 'conflict' | 'stale_fence' | 'not_leased' | 'wrong_outcome' | 'not_found' | 'repeated_in_batch';

export interface ResultVerdict {
  id: string;
  verdict: Verdict;
  /** Whether the server has recorded this result: applied now, or applied by an earlier report. */
  accepted: boolean;
  reason?: string;
  outcome: ActionResult['outcome'];
}

export interface RecordedResults {
  verdicts: ResultVerdict[];
  /** Shares this batch pushed over their failure rate. */
  paused: PausedShare[];
}

/** When this process last pruned each tenant's share, by `tenantId/share`, in Unix seconds. */
const lastPruned = new Map<string, number>();

const REASONS: Record<Exclude<Verdict, 'apply' | 'duplicate'>, string> = {
  conflict: 'a different outcome was already recorded for this claim',
  stale_fence: 'the fence is stale: the lease expired and the object was claimed again',
  not_leased: 'the object is not leased for tiering or recall',
  wrong_outcome: 'the outcome does not fit the claim (REHYDRATED answers a recall, with the SHA-256 recorded when the file was tiered; STUBBED and STALE answer a tier claim)',
  not_found: 'no action with this id',
  repeated_in_batch: 'the batch carries another result for this id',
};

/**
 * Record agents' results: one set-based statement for the whole batch, then the
 * error-rate check of the shares it touched, the pruning of their results past the
 * retention, and one audit row, in one transaction.
 * Sending the same result again is acknowledged as accepted and changes nothing.
 */
export async function recordResults(
  pool: pg.Pool,
  config: ActingConfig,
  principal: Principal,
  results: ActionResult[],
): Promise<RecordedResults> {
  const { unique, repeats } = splitRepeats(results);
  const now = Math.floor(Date.now() / 1000);

  return withTenant(pool, principal.tenant, Roles.actor, async (client) => {
    const { rows } = await client.query<{ id: string; verdict: Verdict; share_name: string | null; outcome: ActionResult['outcome'] }>(
      RECORD_RESULTS,
      [
        unique.map((result) => result.id),
        unique.map((result) => result.fence),
        unique.map((result) => result.outcome),
        unique.map((result) => result.sha256?.toLowerCase() ?? null),
        unique.map((result) => result.error ?? null),
        now,
        principal.tokenId,
      ],
    );

    const byId = new Map(rows.map((row) => [row.id, row]));
    const verdicts = results.map((result, index): ResultVerdict => {
      const firstVerdict = byId.get(result.id)!.verdict;
      const repeat = repeats.get(index);
      let verdict = firstVerdict;
      if (repeat === 'repeated_in_batch') verdict = repeat;
      else if (repeat === 'duplicate' && firstVerdict === 'apply') verdict = 'duplicate';
      const accepted = verdict === 'apply' || verdict === 'duplicate';
      return { id: result.id, verdict, accepted, outcome: result.outcome, ...(accepted ? {} : { reason: REASONS[verdict as keyof typeof REASONS] }) };
    });

    const applied = rows.filter((row) => row.verdict === 'apply');
    const failedShares = [...new Set(applied.filter((row) => row.outcome === 'FAILED').map((row) => row.share_name!))];
    const paused = failedShares.length > 0 ? await pauseFailingShares(client, config, failedShares, principal.tokenName) : [];

    // Results past the retention are deleted here, after the rate check, instead of by
    // a separate job. The lastPruned check limits it to once per share, interval and process.
    const cutoff = now - config.resultRetentionSeconds;
    // Shares go in name order, so two requests pruning the same shares lock in one order.
    for (const share of [...new Set(applied.map((row) => row.share_name!))].sort()) {
      const key = `${principal.tenant.id}/${share}`;
      if ((lastPruned.get(key) ?? 0) > now - PRUNE_INTERVAL_SECONDS) continue;
      lastPruned.set(key, now);
      await client.query(PRUNE_RESULT_LOG, [share, cutoff, PRUNE_BATCH]);
    }

    if (applied.length > 0) {
      const outcomes: Record<string, number> = {};
      for (const row of applied) outcomes[row.outcome] = (outcomes[row.outcome] ?? 0) + 1;
      await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'action.results', $2)", [
        principal.tokenName,
        {
          tokenId: principal.tokenId,
          tokenName: principal.tokenName,
          outcomes,
          rejected: verdicts.filter((verdict) => !verdict.accepted).length,
          ids: applied.map((row) => row.id),
        },
      ]);
    }
    return { verdicts, paused };
  });
}

/**
 * Keep the first result per id. A later identical one shares the first one's verdict
 * (a duplicate when the first was applied). A later different one is rejected,
 * because one statement cannot apply two results to one row.
 */
function splitRepeats(results: ActionResult[]): { unique: ActionResult[]; repeats: Map<number, Verdict> } {
  const first = new Map<string, ActionResult>();
  const repeats = new Map<number, Verdict>();
  results.forEach((result, index) => {
    const earlier = first.get(result.id);
    if (!earlier) {
      first.set(result.id, result);
    } else {
      const same = earlier.fence === result.fence && earlier.outcome === result.outcome;
      repeats.set(index, same ? 'duplicate' : 'repeated_in_batch');
    }
  });
  return { unique: [...first.values()], repeats };
}
