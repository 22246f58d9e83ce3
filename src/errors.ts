/**
 * Domain errors. Each carries a stable code and, where it maps to an HTTP response,
 * the status a client receives. The message says what failed, on which value, and what to do.
 */
export class StrataError extends Error {
  override name = 'StrataError';

  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details: { line?: number; row?: number; column?: string; limit?: string; retryAfterSeconds?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static invalid(code: string, message: string, details: StrataError['details'] = {}, cause?: unknown): StrataError {
    return new StrataError(code, message, 422, details, { cause });
  }

  static tooLarge(limit: string, message: string): StrataError {
    return new StrataError('LIMIT_EXCEEDED', message, 413, { limit });
  }

  static notFound(what: string): StrataError {
    return new StrataError('NOT_FOUND', `${what} not found`, 404);
  }

  static conflict(code: string, message: string, retryAfterSeconds?: number): StrataError {
    return new StrataError(code, message, 409, { retryAfterSeconds });
  }

  static unauthorized(message: string): StrataError {
    return new StrataError('UNAUTHORIZED', message, 401);
  }

  static forbidden(message: string): StrataError {
    return new StrataError('FORBIDDEN', message, 403);
  }
}

/** A request or command referred to a tenant code that breaks the naming rule. */
export class InvalidTenantCodeError extends StrataError {
  override name = 'InvalidTenantCodeError';

  constructor(code: string) {
    super(
      'INVALID_TENANT_CODE',
      `tenant code ${JSON.stringify(code)} is invalid: use 2 to 31 characters, a lowercase letter first, then lowercase letters, digits or underscores`,
      422,
    );
  }
}
