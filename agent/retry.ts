/** Delays between attempts of a request: exponential backoff with jitter, and Retry-After. */

export interface RetryPolicy {
  /** Requests sent for one call before giving up, the first one included. */
  maxAttempts: number;
  /** Upper bound of the delay after the first failed attempt, in milliseconds. */
  baseDelayMs: number;
  /** Upper bound of any backoff delay, in milliseconds. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
};

/**
 * Longest Retry-After the agent honours, in milliseconds. A longer value is cut to this,
 * so a misconfigured server cannot park the agent for hours on one request.
 */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * Returns the delay before attempt `failedAttempts + 1`: a uniformly random time up to
 * baseDelayMs * 2^(failedAttempts - 1), capped at maxDelayMs. The random spread ("full
 * jitter") keeps many agents that failed together from retrying together.
 */
export function backoffDelayMs(
  failedAttempts: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failedAttempts - 1);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.round(random() * ceiling);
}

/**
 * Parses a Retry-After header, given either as seconds or as an HTTP date, into a delay in
 * milliseconds. Returns undefined when the header is missing or invalid.
 */
export function parseRetryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  const value = header?.trim() ?? '';
  if (/^\d+$/.test(value)) {
    return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS);
  }

  // HTTP dates always spell out the month, and Date.parse alone would also accept values
  // such as "-5" as a year.
  if (!/[a-z]/i.test(value)) {
    return undefined;
  }
  const date = Date.parse(value);
  if (Number.isNaN(date)) {
    return undefined;
  }
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
}

/** Checks a policy given by a caller, naming the invalid field. */
export function validateRetryPolicy(policy: RetryPolicy): void {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError(`Invalid retry maxAttempts ${policy.maxAttempts}: expected a whole number of at least 1`);
  }
  for (const field of ['baseDelayMs', 'maxDelayMs'] as const) {
    const value = policy[field];
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`Invalid retry ${field} ${value}: expected a number of milliseconds of at least 0`);
    }
  }
}
