import type { Context, Next } from 'koa';
import { StrataError } from '../errors.ts';
import type { ErrorBody } from '../wire/contract.ts';

/**
 * Answer every failure with a JSON error body. A StrataError's message is meant for
 * the client; anything else is logged with the request id and answered with a bare
 * 500, so no stack trace or SQL text reaches a client.
 */
export async function errorHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const body = toErrorBody(ctx, error);
    ctx.body = body;
  }
}

function toErrorBody(ctx: Context, error: unknown): ErrorBody {
  if (error instanceof StrataError) {
    ctx.status = error.status;
    if (error.details.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(error.details.retryAfterSeconds));
    ctx.state.log?.info({ code: error.code, status: error.status, err: error.cause ?? undefined }, error.message);
    const { line, row, column, limit } = error.details;
    return { error: { code: error.code, message: error.message, line, row, column, limit } };
  }

  ctx.status = 500;
  ctx.state.log?.error({ err: error }, 'request failed');
  return { error: { code: 'INTERNAL', message: `internal error; quote request id ${ctx.state.requestId} to the operator` } };
}
