import { timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { StrataError } from '../errors.ts';
import type { TenantRef } from '../db/tenantContext.ts';
import { hashToken, type TokenScope } from './tokens.ts';

export interface Principal {
  tenant: TenantRef;
  tokenId: string;
  tokenName: string;
  scopes: TokenScope[];
  /** The person the token belongs to, or null for tokens issued without one (agents). */
  person: string | null;
}

interface TokenRow {
  token_id: string;
  token_name: string;
  token_sha256: Buffer;
  scopes: TokenScope[];
  person: string | null;
  expired: boolean;
  revoked: boolean;
  tenant_id: string;
  code: string;
  schema_name: string;
  status: string;
}

/**
 * Resolve a bearer token to its tenant. Unknown, expired and revoked tokens all get
 * the same 401 so a caller learns nothing about which tokens exist; a suspended
 * tenant's valid token gets 403.
 */
export async function authenticate(db: pg.Pool, token: string): Promise<Principal> {
  const digest = hashToken(token);
  const { rows } = await db.query<TokenRow>(
    `SELECT k.id AS token_id, k.name AS token_name, k.token_sha256, k.scopes, k.person,
            (k.expires_at IS NOT NULL AND k.expires_at <= now()) AS expired,
            (k.revoked_at IS NOT NULL) AS revoked,
            t.id AS tenant_id, t.code, t.schema_name, t.status
       FROM control.api_token k
       JOIN control.tenant t ON t.id = k.tenant_id
      WHERE k.token_sha256 = $1`,
    [digest],
  );

  const row = rows[0];
  // The index lookup already matched the digest; comparing again in constant time
  // keeps the decision itself free of timing differences.
  if (!row || !timingSafeEqual(row.token_sha256, digest) || row.expired || row.revoked) {
    throw StrataError.unauthorized('the bearer token is missing, unknown, expired or revoked');
  }
  if (row.status !== 'ACTIVE') {
    throw new StrataError('TENANT_SUSPENDED', `tenant ${row.code} is suspended; its tokens are rejected until an operator resumes it`, 403);
  }

  // At most one write a minute per token keeps a busy agent from writing on every request.
  await db.query(
    `UPDATE control.api_token SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '60 seconds')`,
    [row.token_id],
  );

  return {
    tenant: { id: row.tenant_id, code: row.code, schemaName: row.schema_name },
    tokenId: row.token_id,
    tokenName: row.token_name,
    scopes: row.scopes,
    person: row.person,
  };
}
