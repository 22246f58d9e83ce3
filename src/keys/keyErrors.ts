import { StrataError } from '../errors.ts';

/** Seconds a client is asked to wait when the key service is down; Vault unseals take minutes. */
export const KEY_SERVICE_RETRY_AFTER_SECONDS = 30;

/**
 * The key service is sealed, unreachable or denies access. Work that needs a tenant's
 * data key stops here: the API responds 503 with Retry-After, jobs are retried by
 * pg-boss, and nothing falls back to another key.
 */
export class KeyServiceUnavailableError extends StrataError {
  override name = 'KeyServiceUnavailableError';

  constructor(
    message: string,
    /** `sealed`, `unreachable` or `denied`, for logs and metrics. */
    readonly reason: 'sealed' | 'unreachable' | 'denied',
    cause?: unknown,
  ) {
    super('KEY_SERVICE_UNAVAILABLE', message, 503, { retryAfterSeconds: KEY_SERVICE_RETRY_AFTER_SECONDS }, { cause });
  }
}

/** The configured key provider does not support an operation, e.g. rotation with the local keyring. */
export class KeyProviderUnsupportedError extends StrataError {
  override name = 'KeyProviderUnsupportedError';

  constructor(provider: string, operation: string) {
    super(
      'KEY_PROVIDER_UNSUPPORTED',
      `${operation} needs the Vault key provider; this process uses the ${provider} provider (set STRATA_KEY_PROVIDER=vault)`,
      422,
    );
  }
}
