/**
 * Keeps the leases of claimed actions alive while the agent holds them. A file whose
 * copy outlasts its lease (a large file on a slow target) would otherwise be claimed by
 * a second agent, copied twice, and end with one result rejected.
 *
 * Each lease is timed on the agent's own clock, from when the claim arrived plus the
 * length the server granted, so the agent's and the server's clocks need not agree. The
 * clock is the monotonic one: a step of the system clock does not move a lease's end. Once
 * half of a lease has gone by, the next check renews it in one request together with
 * every lease that has less than three quarters left.
 */
import type { Logger } from 'pino';

import type { ClaimedAction, RenewLeasesRequest, RenewLeasesResponse } from '../../src/wire/acting.ts';

/** The server side of renewals: the API client, or a test double. */
export interface LeaseRenewer {
  renewLeases(request: RenewLeasesRequest, signal?: AbortSignal): Promise<RenewLeasesResponse>;
}

/** A claimed action's lease, as tracked by the agent. */
export interface HeldLease {
  /** True once the server reported the lease lost: another claim took the action, or its result is recorded. */
  readonly lost: boolean;
  /** Seconds until the lease ends by the agent's clock; negative once it ended. */
  remainingSeconds(): number;
  /** Length of the lease last granted, in seconds. */
  readonly termSeconds: number;
}

/**
 * Options of a LeaseKeeper. It takes no abort signal: after an interrupt the files in
 * progress are finished, and their leases must last until their results are sent.
 */
export interface LeaseKeeperOptions {
  /** Lease length requested; the server's default when undefined. */
  leaseSeconds?: number;
  logger: Logger;
  /** How often due leases are looked for, in milliseconds. */
  checkIntervalMs?: number;
}

/**
 * Due leases are looked for once a second: a lease is at least 5 seconds long (the
 * server's lower bound), so this finds each within a fraction of its second half.
 */
const DEFAULT_CHECK_INTERVAL_MS = 1000;

/** A lease is due for renewal once less than this part of it is left. */
const DUE_FRACTION = 0.5;

/** With a due lease, those with less than this part left are renewed too. */
const ALONG_FRACTION = 0.75;

/** Leases named per renewal request; the server accepts up to 10,000. */
const RENEWALS_PER_REQUEST = 1000;

class Lease implements HeldLease {
  lost = false;
  /** When the lease ends, in performance.now() milliseconds. */
  deadlineMs: number;
  /** Length of the lease last granted, in milliseconds. */
  termMs: number;

  constructor(
    readonly id: string,
    readonly fence: string,
    grantedAtMs: number,
    seconds: number,
  ) {
    this.termMs = seconds * 1000;
    this.deadlineMs = grantedAtMs + this.termMs;
  }

  remainingSeconds(): number {
    return (this.deadlineMs - performance.now()) / 1000;
  }

  get termSeconds(): number {
    return this.termMs / 1000;
  }

  /** Returns whether less than `fraction` of the lease is left. */
  endsWithin(fraction: number): boolean {
    return !this.lost && this.deadlineMs - performance.now() < this.termMs * fraction;
  }
}

export class LeaseKeeper {
  readonly #renewer: LeaseRenewer | undefined;
  readonly #options: LeaseKeeperOptions;
  readonly #held = new Map<string, Lease>();
  readonly #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  /** Leases renewed and lost so far. */
  renewed = 0;
  lost = 0;

  /** Without a renewer, leases are only timed: they run out as claimed. */
  constructor(renewer: LeaseRenewer | undefined, options: LeaseKeeperOptions) {
    this.#renewer = renewer;
    this.#options = options;
    if (renewer !== undefined) {
      this.#timer = setInterval(() => this.#check(), options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
      // The run ends when its work ends, not when the next check is due.
      this.#timer.unref();
    }
  }

  /** Starts timing the lease of an action that just arrived in a claim. */
  hold(action: ClaimedAction): void {
    this.#held.set(action.id, new Lease(action.id, action.fence, performance.now(), action.leaseSeconds));
  }

  /** Returns the lease of a held action. */
  lease(id: string): HeldLease {
    const lease = this.#held.get(id);
    if (lease === undefined) {
      throw new Error(`Action ${id} is not held`);
    }
    return lease;
  }

  /** Stops renewing an action's lease: its result was sent, or it was skipped. */
  release(id: string): void {
    this.#held.delete(id);
  }

  /** Stops the checks and waits for a renewal in flight. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#renewing;
  }

  #check(): void {
    if (this.#renewing !== undefined) {
      return;
    }
    const leases = [...this.#held.values()];
    if (!leases.some((lease) => lease.endsWithin(DUE_FRACTION))) {
      return;
    }
    // Leases that will be due soon go along, so that leases claimed at different times
    // come to be renewed together, in one request and one audit row.
    const due = leases.filter((lease) => lease.endsWithin(ALONG_FRACTION));
    this.#renewing = this.#renew(due).finally(() => {
      this.#renewing = undefined;
    });
  }

  async #renew(due: Lease[]): Promise<void> {
    for (let start = 0; start < due.length; start += RENEWALS_PER_REQUEST) {
      const batch = due.slice(start, start + RENEWALS_PER_REQUEST);
      const request: RenewLeasesRequest = { leases: batch.map((lease) => ({ id: lease.id, fence: lease.fence })) };
      if (this.#options.leaseSeconds !== undefined) {
        request.leaseSeconds = this.#options.leaseSeconds;
      }

      // The new end is counted from when the request left, which can only be earlier
      // than when the server extended the lease.
      const sentAtMs = performance.now();
      let response: RenewLeasesResponse;
      try {
        response = await this.#renewer!.renewLeases(request);
      } catch (error) {
        // The leases stay due, so the next check tries again while they last.
        this.#options.logger.warn({ err: error, leases: batch.length }, 'Failed to renew leases; trying again');
        return;
      }
      this.#apply(batch, response, sentAtMs);
    }
  }

  #apply(batch: Lease[], response: RenewLeasesResponse, sentAtMs: number): void {
    const byId = new Map(batch.map((lease) => [lease.id, lease]));
    for (const entry of response.leases) {
      const lease = byId.get(entry.id);
      if (lease === undefined) continue;

      if (entry.renewed && entry.leaseSeconds !== undefined) {
        lease.termMs = entry.leaseSeconds * 1000;
        lease.deadlineMs = sentAtMs + lease.termMs;
        this.renewed++;
      } else {
        lease.lost = true;
        this.lost++;
        this.#options.logger.warn({ actionId: lease.id, reason: entry.reason }, 'Lease lost; the file is left as it is');
      }
    }
  }
}
