import type { Context, Next } from 'koa';
import type pg from 'pg';
import { authenticate } from '../control/authenticate.ts';
import type { TokenScope } from '../control/tokens.ts';
import { StrataError } from '../errors.ts';

/**
 * Resolve `Authorization: Bearer <token>` to a principal and require `scope`. The
 * principal (tenant and token) goes on `ctx.state`; the request logger gains the tenant.
 */
export function requireScope(pool: pg.Pool, scope: TokenScope) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw StrataError.unauthorized('send the token as "Authorization: Bearer <token>"');

    const principal = await authenticate(pool, match[1]!);
    if (!principal.scopes.includes(scope)) {
      throw StrataError.forbidden(`token ${principal.tokenName} lacks the ${scope} scope`);
    }

    ctx.state.principal = principal;
    ctx.state.log = ctx.state.log.child({ tenant: principal.tenant.code, token: principal.tokenId });
    await next();
  };
}
