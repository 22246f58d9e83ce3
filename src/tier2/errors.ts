import type { Tier2Kind } from './tier2Store.ts';

/** The object a Tier-2 call named does not exist. Callers test for it with `instanceof`. */
export class Tier2NotFoundError extends Error {
  override name = 'Tier2NotFoundError';
  readonly code = 'TIER2_NOT_FOUND';

  constructor(
    readonly kind: Tier2Kind,
    readonly key: string,
  ) {
    super(`Tier-2 object ${JSON.stringify(key)} not found in the ${kind} store`);
  }
}

/** A key that no store accepts; the message gives the rule it breaks. */
export class InvalidTier2KeyError extends Error {
  override name = 'InvalidTier2KeyError';
  readonly code = 'TIER2_INVALID_KEY';

  constructor(key: string, rule: string) {
    super(`Tier-2 key ${JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key)} is invalid: ${rule}`);
  }
}

/** The body written by `put` did not match the size or SHA-256 the caller declared. */
export class Tier2ContentMismatchError extends Error {
  override name = 'Tier2ContentMismatchError';
  readonly code = 'TIER2_CONTENT_MISMATCH';

  constructor(key: string, what: string) {
    super(`Tier-2 put of ${JSON.stringify(key)} stored nothing: ${what}; the source changed while it was read, or the copy was corrupted, so read it again and retry`);
  }
}

/**
 * Any other failure of a Tier-2 call. The message and `details` are built from the
 * service's error code, HTTP status and message with every credential of the store
 * replaced by `[redacted]`. The SDK's own error is not kept as `cause`, because SDK
 * errors can carry the signed request, and a logger serialises causes.
 */
export class Tier2Error extends Error {
  override name = 'Tier2Error';
  readonly code = 'TIER2_FAILED';

  constructor(
    message: string,
    readonly details: { kind: Tier2Kind; operation: string; key?: string; status?: number; serviceCode?: string },
  ) {
    super(message);
  }
}

/**
 * Make a Tier2Error from an SDK or system error, removing each of `secrets` wherever it
 * appears in the text.
 */
export function tier2Failure(kind: Tier2Kind, operation: string, key: string | undefined, error: unknown, secrets: readonly string[]): Tier2Error {
  const fields = error as { name?: string; code?: string; Code?: string; message?: string; statusCode?: number; $metadata?: { httpStatusCode?: number } };
  const status = fields?.$metadata?.httpStatusCode ?? fields?.statusCode;
  const serviceCode = fields?.Code ?? fields?.code ?? fields?.name;
  const original = typeof fields?.message === 'string' ? fields.message : String(error);
  const where = key === undefined ? '' : ` ${JSON.stringify(key)}`;
  const statusText = status === undefined ? '' : ` (HTTP ${status}${serviceCode ? ` ${serviceCode}` : ''})`;
  const message = redact(`${kind} ${operation}${where} failed${statusText}: ${original}`, secrets);
  return new Tier2Error(message, {
    kind,
    operation,
    ...(key === undefined ? {} : { key }),
    ...(status === undefined ? {} : { status }),
    ...(serviceCode === undefined ? {} : { serviceCode: redact(String(serviceCode), secrets) }),
  });
}

/** Replace every occurrence of each secret (and its URL-encoded form) with `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    // Very short values would blank out ordinary words; no real credential is that short.
    if (secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      result = result.split(form).join('[redacted]');
    }
  }
  return result;
}
