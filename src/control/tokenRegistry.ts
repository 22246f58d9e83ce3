import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { recordAuditEvent } from './audit.ts';
import type { TenantRecord } from './tenants.ts';
import { issueToken, TOKEN_SCOPES, type IssuedToken, type TokenScope } from './tokens.ts';

/** A token as operators see it: never the token itself nor its hash. */
export interface TokenSummary {
  id: string;
  name: string;
  scopes: TokenScope[];
  /** The person the token belongs to; null for agent tokens. */
  person: string | null;
  state: 'active' | 'expired' | 'revoked';
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

const NAME_RULE = /^[^\u0000-\u001f\u007f-\u009f]{1,100}$/;
/**
 * A person's name on a token: lower-case ASCII letters, digits and `. _ % + @ -`, such as
 * an e-mail address. Two approvals must come from two people, and the names are compared
 * as text, so a name must have one spelling: no case, no look-alike letters from other
 * scripts, no spaces.
 */
const PERSON_RULE = /^[a-z0-9._%+@-]{1,200}$/;

/** Return a token holder's name as stored (trimmed, lower case), or throw INVALID_PERSON. */
export function personName(text: string): string {
  const person = text.trim().toLowerCase();
  if (!PERSON_RULE.test(person)) {
    throw StrataError.invalid(
      'INVALID_PERSON',
      `person ${JSON.stringify(text)} is invalid: use 1 to 200 ASCII letters, digits and . _ % + @ -, such as an e-mail address`,
    );
  }
  return person;
}

/** Parse a comma-separated scope list, rejecting unknown scopes by name. */
export function parseScopes(text: string): TokenScope[] {
  const scopes = [...new Set(text.split(',').map((scope) => scope.trim()).filter(Boolean))];
  const unknown = scopes.filter((scope) => !(TOKEN_SCOPES as readonly string[]).includes(scope));
  if (scopes.length === 0 || unknown.length > 0) {
    const what = unknown.length > 0 ? `unknown scope(s) ${unknown.join(', ')}` : 'no scope given';
    throw StrataError.invalid('INVALID_SCOPES', `${what}; choose from ${TOKEN_SCOPES.join(', ')}`);
  }
  return scopes as TokenScope[];
}

/** Issue a token for a tenant and record it in the audit trail, in one transaction. */
export async function createToken(
  pool: pg.Pool,
  tenant: TenantRecord,
  request: { name: string; scopes: TokenScope[]; expiresAt: Date | null; actor: string; person?: string | null },
): Promise<IssuedToken> {
  if (!NAME_RULE.test(request.name)) {
    throw StrataError.invalid('INVALID_TOKEN_NAME', 'token name must be 1 to 100 characters without control characters');
  }
  const person = request.person === undefined || request.person === null ? null : personName(request.person);

  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const issued = await issueToken(client, tenant.id, request.name, request.scopes, request.expiresAt, person);
    await recordAuditEvent(client, {
      actor: request.actor,
      action: 'token.created',
      tenant,
      details: { tokenId: issued.id, name: request.name, person, scopes: request.scopes, expiresAt: request.expiresAt?.toISOString() ?? null },
    });
    await client.query('COMMIT');
    return issued;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** List a tenant's tokens, newest first. */
export async function listTokens(db: pg.Pool, tenantId: string): Promise<TokenSummary[]> {
  const { rows } = await db.query(
    `SELECT id, name, scopes, person, created_at, expires_at, revoked_at, last_used_at,
            CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
                 WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired'
                 ELSE 'active' END AS state
       FROM control.api_token WHERE tenant_id = $1
      ORDER BY created_at DESC, id`,
    [tenantId],
  );
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    person: row.person,
    state: row.state,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  }));
}

/**
 * Revoke one of a tenant's tokens; the API rejects it with 401 from the next request
 * on. Returns false when it was already revoked. A token of another tenant is "not found".
 */
export async function revokeToken(pool: pg.Pool, tenant: TenantRecord, tokenId: string, actor: string): Promise<boolean> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tokenId)) {
    throw StrataError.invalid('INVALID_TOKEN_ID', `token id "${tokenId}" is not a UUID; see \`strata token list --tenant ${tenant.code}\``);
  }

  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ name: string; revoked: boolean }>(
      'SELECT name, revoked_at IS NOT NULL AS revoked FROM control.api_token WHERE id = $1 AND tenant_id = $2 FOR UPDATE',
      [tokenId, tenant.id],
    );
    const token = rows[0];
    if (!token) throw StrataError.notFound(`token ${tokenId} of tenant ${tenant.code}`);

    if (!token.revoked) {
      await client.query('UPDATE control.api_token SET revoked_at = now() WHERE id = $1', [tokenId]);
      await recordAuditEvent(client, { actor, action: 'token.revoked', tenant, details: { tokenId, name: token.name } });
    }
    await client.query('COMMIT');
    return !token.revoked;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Return which of `tokenIds` are admin tokens of the tenant that are neither revoked nor
 * expired now. An approval made through a token revoked since then no longer counts.
 */
export async function activeAdminTokens(db: pg.Pool, tenantId: string, tokenIds: string[]): Promise<Set<string>> {
  if (tokenIds.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM control.api_token
      WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND 'admin' = ANY(scopes)
        AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [tenantId, tokenIds],
  );
  return new Set(rows.map((row) => row.id));
}
