import type { Context, Next } from 'koa';
import { StrataError } from '../errors.ts';
import type { ErrorBody } from '../wire/contract.ts';

/**
 * Turn every failure into a JSON error response. A StrataError's message is meant for
 * the client. Anything else is logged with the request id and returned as a bare 500,
 * so no stack trace or SQL text reaches a client.
 */
export async function errorHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const body = toErrorBody(ctx, error);
    ctx.body = body;
    return;
  }

  // Routes that matched nothing, or matched the path with another method, get the same
  // JSON error body as every other failure.
  const status = ctx.status;
  if (ctx.body === undefined && (status === 404 || status === 405)) {
    const allowed = ctx.response.get('Allow');
    // Setting a body makes Koa respond 200, so the status is set again afterwards.
    ctx.body =
      status === 404
        ? { error: { code: 'NOT_FOUND', message: `no route for ${ctx.method} ${ctx.path}` } }
        : { error: { code: 'METHOD_NOT_ALLOWED', message: `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allowed}` } };
    ctx.status = status;
  }
}

function toErrorBody(ctx: Context, error: unknown): ErrorBody {
  if (error instanceof StrataError) {
    ctx.status = error.status;
    if (error.details.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(error.details.retryAfterSeconds));
    ctx.state.log?.info({ code: error.code, status: error.status, cause: causeForLog(error.cause) }, error.message);
    const { line, row, column, limit } = error.details;
    return { error: { code: error.code, message: error.message, line, row, column, limit } };
  }

  if (!ctx.req.complete && ctx.req.destroyed) {
    // The client closed the connection mid-request, so no response can reach it. It is
    // not a server fault either, so it is neither logged as an error nor counted as a 500.
    ctx.status = 400;
    ctx.state.log?.info({ err: error }, 'client closed the connection before the request was complete');
    return { error: { code: 'CLIENT_CLOSED_REQUEST', message: 'the client closed the connection' } };
  }

  ctx.status = 500;
  ctx.state.log?.error({ err: error }, 'request failed');
  return { error: { code: 'INTERNAL', message: `internal error; quote request id ${ctx.state.requestId} to the operator` } };
}

/**
 * Reduce an error's cause to what an operator needs. A PostgreSQL error from COPY
 * carries the rejected row in its detail and context, so logging it whole would put a
 * tenant's file names in the API log. The client already got the line and column.
 */
function causeForLog(cause: unknown): Record<string, unknown> | undefined {
  if (cause === undefined || cause === null) return undefined;
  const { code, constraint, routine, name } = cause as { code?: unknown; constraint?: unknown; routine?: unknown; name?: unknown };
  return { name, code, constraint, routine };
}
