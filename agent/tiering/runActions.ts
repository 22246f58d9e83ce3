/**
 * The loop shared by `act` and `recall`: claim actions in batches, run them on a pool of
 * file workers, and report their results in batches. The next claim is sent while the
 * workers still have files, so they rarely wait for the server. Leases are renewed
 * until each action's result is sent (leaseKeeper.ts).
 */
import type { Logger } from 'pino';

import type { ActionKind, ActionOutcome, ActionResult, ClaimedAction, ClaimRequest, ClaimResponse } from '../../src/wire/acting.ts';
import { LeaseKeeper, type HeldLease, type LeaseRenewer } from './leaseKeeper.ts';
import { ResultReporter, type ResultSink } from './resultReporter.ts';

/**
 * Source of claims and sink of results: the API client, or a test double. A source
 * without `renewLeases` leaves leases to run out as claimed.
 */
export interface ActionSource extends ResultSink, Partial<LeaseRenewer> {
  claimActions(request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse>;
}

export interface RunActionsOptions {
  source: ActionSource;
  share: string;
  kind: ActionKind;
  /** Recall only: glob over the full source path. */
  pattern?: string;
  /** Files worked on at once. */
  concurrency: number;
  /** Actions asked for per claim. */
  claimBatch: number;
  /** Results sent per request. */
  resultBatch?: number;
  /** Lease asked for; the server's default when undefined. */
  leaseSeconds?: number;
  /** Stop after this many claimed actions; no limit when undefined. */
  maxActions?: number;
  /** Works on one action. When `lease.lost` is true, it must leave the file as it is. */
  handle: (action: ClaimedAction, lease: HeldLease) => Promise<ActionResult>;
  /** Returns how many stubs the run could not mark offline so far. Undefined counts none. */
  countUnmarked?: () => number;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (progress: ActionProgress) => void;
}

/** Counts of a running or finished act or recall. */
export interface ActionProgress {
  kind: ActionKind;
  claimed: number;
  /** Actions skipped because their lease would run out before the work could end. */
  expired: number;
  outcomes: Record<ActionOutcome, number>;
  /** Bytes of the files stubbed or rehydrated. */
  bytes: number;
  /** Results the server accepted and rejected (stale fence, lease taken over). */
  accepted: number;
  rejected: number;
  /** Stubs reported STUBBED without the offline attribute, because marking failed (Windows only). */
  unmarked: number;
  elapsedSeconds: number;
}

/**
 * An action whose lease ends within this many seconds is not started: another agent may
 * claim it meanwhile, and its result would be rejected. It is claimed again later. This
 * happens only when renewals failed (the server was unreachable for half a lease).
 */
export const LEASE_MARGIN_SECONDS = 10;

/** Runs actions until a claim returns none, and returns the final counts. */
export async function runActions(options: RunActionsOptions): Promise<ActionProgress> {
  const startedAt = Date.now();
  // Neither the lease keeper nor the reporter takes the signal: after an interrupt, the
  // files in progress keep their leases and the results of the files done are sent.
  const renewer = options.source.renewLeases === undefined ? undefined : (options.source as LeaseRenewer);
  const leases = new LeaseKeeper(renewer, { leaseSeconds: options.leaseSeconds, logger: options.logger });
  // A lease is held until its result has been sent, so that no other agent takes the
  // file while the result waits for its batch.
  const reporter = new ResultReporter(options.source, {
    batchSize: options.resultBatch,
    logger: options.logger,
    onSent: (ids) => ids.forEach((id) => leases.release(id)),
  });
  const progress: ActionProgress = {
    kind: options.kind,
    claimed: 0,
    expired: 0,
    outcomes: { STUBBED: 0, REHYDRATED: 0, STALE: 0, FAILED: 0 },
    bytes: 0,
    accepted: 0,
    rejected: 0,
    unmarked: 0,
    elapsedSeconds: 0,
  };
  const report = (): void => {
    progress.accepted = reporter.accepted;
    progress.rejected = reporter.rejected;
    progress.unmarked = options.countUnmarked?.() ?? 0;
    progress.elapsedSeconds = (Date.now() - startedAt) / 1000;
    options.onProgress?.(progress);
  };

  const queue = new ClaimQueue(options, (actions) => {
    actions.forEach((action) => leases.hold(action));
    progress.claimed += actions.length;
    report();
  });

  // Once one worker fails (results cannot be reported, say), the others finish the file
  // in hand and stop, rather than work on files whose results would be lost.
  let failed = false;
  const worker = async (): Promise<void> => {
    try {
      await work();
    } catch (error) {
      failed = true;
      throw error;
    }
  };
  const work = async (): Promise<void> => {
    for (let action = await queue.next(); action !== undefined && !failed; action = await queue.next()) {
      options.signal?.throwIfAborted();
      const lease = leases.lease(action.id);
      // A short lease (the server's default may be as low as 5 s) keeps half its length
      // as the margin, so that its actions are still started and then renewed.
      if (lease.lost || lease.remainingSeconds() < Math.min(LEASE_MARGIN_SECONDS, lease.termSeconds / 2)) {
        progress.expired++;
        leases.release(action.id);
        continue;
      }

      const result = await options.handle(action, lease);
      progress.outcomes[result.outcome]++;
      if (result.outcome === 'STUBBED' || result.outcome === 'REHYDRATED') {
        progress.bytes += result.sizeBytes ?? 0;
      }
      if (result.outcome === 'FAILED' || result.outcome === 'STALE') {
        options.logger.info({ actionId: action.id, outcome: result.outcome, error: result.error }, 'Action not done');
      }
      await reporter.add(result);
      report();
    }
  };

  const workers = Array.from({ length: options.concurrency }, () => worker());
  const settled = await Promise.allSettled(workers);
  const failure = settled.find((result) => result.status === 'rejected');

  // Results of the files that were done are sent even when a worker failed, so a rerun
  // has less to confirm. Their leases are renewed until then.
  try {
    await reporter.close();
  } catch (error) {
    if (failure === undefined) {
      throw error;
    }
    options.logger.error({ err: error }, 'Failed to report the last results after an earlier failure');
  } finally {
    await leases.close();
  }
  if (failure !== undefined) {
    throw failure.reason;
  }
  report();
  return progress;
}

/** Claimed actions waiting for a worker, refilled by one claim at a time. */
class ClaimQueue {
  readonly #options: RunActionsOptions;
  readonly #onClaimed: (actions: ClaimedAction[]) => void;
  readonly #waiting: ClaimedAction[] = [];
  #claiming: Promise<void> | undefined;
  #exhausted = false;
  #claimedTotal = 0;

  constructor(options: RunActionsOptions, onClaimed: (actions: ClaimedAction[]) => void) {
    this.#options = options;
    this.#onClaimed = onClaimed;
  }

  /** Returns the next action, claiming more when the queue runs low, or undefined when the server has none. */
  async next(): Promise<ClaimedAction | undefined> {
    for (;;) {
      const action = this.#waiting.shift();
      if (action !== undefined) {
        if (this.#waiting.length < this.#options.concurrency) {
          this.#refill();
        }
        return action;
      }
      if (this.#exhausted) {
        return undefined;
      }
      this.#refill();
      await this.#claiming;
    }
  }

  #refill(): void {
    if (this.#claiming !== undefined || this.#exhausted) {
      return;
    }
    const claim = this.#claim().finally(() => {
      this.#claiming = undefined;
    });
    this.#claiming = claim;

    // A failed prefetch is rethrown by the worker that awaits it next; this only keeps
    // it from counting as unhandled in between.
    claim.catch(() => undefined);
  }

  async #claim(): Promise<void> {
    const options = this.#options;
    const limit = options.maxActions === undefined ? options.claimBatch : Math.min(options.claimBatch, options.maxActions - this.#claimedTotal);
    if (limit <= 0) {
      this.#exhausted = true;
      return;
    }

    const request: ClaimRequest = { share: options.share, kind: options.kind, max: limit };
    if (options.leaseSeconds !== undefined) {
      request.leaseSeconds = options.leaseSeconds;
    }
    if (options.pattern !== undefined) {
      request.pattern = options.pattern;
    }
    const response = await options.source.claimActions(request, options.signal);
    if (response.actions.length === 0) {
      this.#exhausted = true;
      return;
    }
    this.#claimedTotal += response.actions.length;
    this.#waiting.push(...response.actions);
    this.#onClaimed(response.actions);
  }
}
