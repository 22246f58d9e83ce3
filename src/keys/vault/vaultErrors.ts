import { KeyServiceUnavailableError } from '../keyErrors.ts';

/** Vault rejected a request for a reason a retry will not fix (400, 404), e.g. a bad ciphertext. */
export class VaultRequestError extends Error {
  override name = 'VaultRequestError';

  constructor(
    message: string,
    readonly statusCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface ResponseLike {
  response?: { statusCode?: number; body?: { errors?: unknown[] } };
  code?: string;
}

/**
 * Sort a node-vault failure into what callers act on. 503 (sealed, or a standby without
 * an active node), 5xx, 429 and network errors are "unavailable" and retryable, 403 is
 * "denied", anything else is a VaultRequestError. Vault's error text names the path and
 * the reason, never a key or a plaintext, so it is kept in the message.
 */
export function classifyVaultError(raw: unknown, path: string): Error {
  if (raw instanceof KeyServiceUnavailableError || raw instanceof VaultRequestError) return raw;

  const { response, code } = (raw ?? {}) as ResponseLike;
  const status = response?.statusCode;
  const detail = vaultMessage(raw);
  const error = sanitised(raw, detail, status);

  if (status === undefined) {
    return new KeyServiceUnavailableError(`Vault is unreachable (${code ?? detail}) on ${path}; check VAULT_ADDR and the network`, 'unreachable', error);
  }
  if (status === 503 && /sealed/i.test(detail)) {
    return new KeyServiceUnavailableError(`Vault is sealed (${path}); unseal it, then retry`, 'sealed', error);
  }
  if (status === 403) {
    return new KeyServiceUnavailableError(
      `Vault denied ${path} (403: ${detail}); check the token or AppRole and its policy (ops/vault/)`,
      'denied',
      error,
    );
  }
  if (status >= 500 || status === 429) {
    return new KeyServiceUnavailableError(`Vault failed on ${path} with ${status}: ${detail}; retry later`, 'unreachable', error);
  }
  return new VaultRequestError(`Vault rejected ${path} with ${status}: ${detail}`, status, { cause: error });
}

/**
 * Keep only the message, status and error code of a client error. Axios errors carry
 * the request's headers and body, that is the Vault token, an AppRole secret id or a
 * ciphertext, and a logger that serialises the cause would write them out.
 */
function sanitised(raw: unknown, detail: string, status: number | undefined): Error {
  const clean = new Error(detail);
  clean.name = raw instanceof Error ? raw.name : 'VaultClientError';
  Object.assign(clean, { statusCode: status, code: (raw as ResponseLike)?.code });
  clean.stack = `${clean.name}: ${detail}`;
  return clean;
}

function vaultMessage(error: unknown): string {
  const errors = (error as ResponseLike)?.response?.body?.errors;
  if (Array.isArray(errors) && errors.length > 0) return errors.map(String).join('; ');
  return error instanceof Error ? error.message : String(error);
}
