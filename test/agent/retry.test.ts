import { expect } from 'chai';

import { backoffDelayMs, DEFAULT_RETRY_POLICY, parseRetryAfterMs } from '../../agent/retry.ts';

describe('agent retry delays', function () {
  it('backoff doubles from 0.5 s', function () {
    const highest = () => 1;

    expect(backoffDelayMs(1, DEFAULT_RETRY_POLICY, highest)).to.equal(500);
    expect(backoffDelayMs(2, DEFAULT_RETRY_POLICY, highest)).to.equal(1000);
    expect(backoffDelayMs(4, DEFAULT_RETRY_POLICY, highest)).to.equal(4000);
  });

  it('backoff is capped at 30 s', function () {
    expect(backoffDelayMs(7, DEFAULT_RETRY_POLICY, () => 1)).to.equal(30_000);
    expect(backoffDelayMs(50, DEFAULT_RETRY_POLICY, () => 1)).to.equal(30_000);
  });

  it('backoff jitter spreads below the ceiling', function () {
    expect(backoffDelayMs(3, DEFAULT_RETRY_POLICY, () => 0)).to.equal(0);
    expect(backoffDelayMs(3, DEFAULT_RETRY_POLICY, () => 0.5)).to.equal(1000);
  });

  it('Retry-After in seconds', function () {
    expect(parseRetryAfterMs('3')).to.equal(3000);
    expect(parseRetryAfterMs(' 0 ')).to.equal(0);
  });

  it('Retry-After as HTTP date', function () {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:05 GMT', now)).to.equal(5000);
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:27:00 GMT', now)).to.equal(0);
  });

  it('Retry-After missing or invalid', function () {
    expect(parseRetryAfterMs(null)).to.equal(undefined);
    expect(parseRetryAfterMs('')).to.equal(undefined);
    expect(parseRetryAfterMs('soon')).to.equal(undefined);
    expect(parseRetryAfterMs('-5')).to.equal(undefined);
  });

  it('Retry-After capped at 5 minutes', function () {
    expect(parseRetryAfterMs('86400')).to.equal(300_000);
  });
});
