import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';

export const TOKEN_SCOPES = ['upload', 'act', 'inventory', 'report', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** Scopes of the token made at onboarding for the tenant's agents. */
export const AGENT_SCOPES: TokenScope[] = ['upload', 'act', 'inventory'];

const PREFIX = 'strata_';

/** A new token: 256 random bits, base64url, with a prefix that secret scanners can match. */
export function generateToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export interface IssuedToken {
  id: string;
  /** The plaintext token: shown once to the operator and never stored. */
  token: string;
}

/**
 * Store a new token's hash for a tenant and return the plaintext once. `person` names
 * the human the token belongs to; remediation approvals count people, not tokens.
 */
export async function issueToken(
  db: pg.ClientBase,
  tenantId: string,
  name: string,
  scopes: TokenScope[],
  expiresAt: Date | null,
  person: string | null = null,
): Promise<IssuedToken> {
  const id = randomUUID();
  const token = generateToken();

  await db.query(
    `INSERT INTO control.api_token (id, tenant_id, name, token_sha256, scopes, expires_at, person)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [id, tenantId, name, hashToken(token), scopes, expiresAt, person],
  );
  return { id, token };
}
