import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { StrataError } from '../errors.ts';
import { Roles } from '../db/roles.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import { AGENT_SCOPES, issueToken } from '../control/tokens.ts';
import type { KeyProvider, WrappedDek } from '../keys/keyProvider.ts';
import type { Logger } from '../log.ts';
import { applyTenantMigrations, type TenantMigrationEntry } from './applyTenantMigrations.ts';
import { schemaNameFor } from './schemaName.ts';

export interface ProvisionRequest {
  code: string;
  name: string;
}

export interface ProvisionedTenant {
  id: string;
  code: string;
  schemaName: string;
  schemaVersion: string;
  /** The first agent token, in plaintext: print it once, it is stored only hashed. */
  agentToken: string;
}

export interface ProvisionDeps {
  pool: pg.Pool;
  orm: MikroORM;
  keys: KeyProvider;
  log: Logger;
  /** Tests replace the template to force a failure part-way. */
  migrations?: readonly TenantMigrationEntry[];
}

/**
 * Onboard a tenant all-or-nothing: its key, its schema from the template, its registry
 * row and its first agent token. Everything in the database happens in one
 * transaction; the key is made first and destroyed again if that transaction fails.
 */
export async function provisionTenant(deps: ProvisionDeps, request: ProvisionRequest): Promise<ProvisionedTenant> {
  const schemaName = schemaNameFor(request.code);
  const name = request.name.trim();
  if (name === '' || name.length > 200 || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw StrataError.invalid('INVALID_TENANT_NAME', 'tenant name must be 1 to 200 characters without control characters');
  }

  const owner = { id: randomUUID(), code: request.code };
  const log = deps.log.child({ tenant: request.code, tenantId: owner.id });
  const client = await deps.pool.connect();
  let key: WrappedDek | undefined;
  try {
    await client.query('BEGIN');
    // Onboardings of one code wait for each other here, so the loser of a race finds the
    // code taken before it touches the key service. Vault returns success for a
    // create of an existing transit key, and destroying that key after losing would
    // shred the winner's key. The lock is transaction-scoped, so PgBouncer is safe.
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('strata.provision:' || $1, 0))", [request.code]);
    const { rowCount } = await client.query('SELECT 1 FROM control.tenant WHERE code = $1', [request.code]);
    if (rowCount) throw translateProvisionError({ code: SqlState.uniqueViolation }, request.code);

    key = await deps.keys.createTenantKey(owner);
    const result = await createInTransaction(client, deps, owner, name, schemaName, key);
    await client.query('COMMIT');

    log.info({ schema: schemaName, version: result.schemaVersion }, 'tenant provisioned');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    if (key) await destroyUnusedKey(deps, owner, key.keyRef, log);

    const translated = translateProvisionError(error, request.code);
    if (translated instanceof StrataError) {
      log.info({ code: translated.code }, `tenant not provisioned: ${translated.message}`);
    } else {
      log.error({ err: error }, 'tenant provisioning failed; nothing was kept');
    }
    throw translated;
  } finally {
    client.release();
  }
}

async function createInTransaction(
  client: pg.PoolClient,
  deps: ProvisionDeps,
  owner: { id: string; code: string },
  name: string,
  schemaName: string,
  key: WrappedDek,
): Promise<ProvisionedTenant> {
  const quotedSchema = client.escapeIdentifier(schemaName);
  await client.query(`CREATE SCHEMA ${quotedSchema} AUTHORIZATION ${client.escapeIdentifier(Roles.owner)}`);

  const migrated = await applyTenantMigrations(client, deps.orm, { id: owner.id, schemaName }, { migrations: deps.migrations });
  const schemaVersion = migrated.applied[migrated.applied.length - 1] ?? '';

  await client.query(
    `INSERT INTO control.tenant (id, code, name, schema_name, key_ref, wrapped_dek, key_version, schema_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [owner.id, owner.code, name, schemaName, key.keyRef, key.wrappedDek, key.keyVersion ?? 1, schemaVersion],
  );
  const token = await issueToken(client, owner.id, 'agent', AGENT_SCOPES, null);

  return { id: owner.id, code: owner.code, schemaName, schemaVersion, agentToken: token.token };
}

/**
 * Destroy the key of a tenant that was not created. When that fails too (the key
 * service went down in between), the original error is what the caller needs, so the
 * leftover key is logged for the operator instead of thrown.
 */
async function destroyUnusedKey(deps: ProvisionDeps, owner: { id: string; code: string }, keyRef: string, log: Logger): Promise<void> {
  try {
    await deps.keys.destroyTenantKey(owner, keyRef);
  } catch (error) {
    log.error({ err: error, keyRef }, 'the key of a tenant that was not created could not be destroyed; delete it in the key service');
  }
}

function translateProvisionError(error: unknown, code: string): unknown {
  const state = sqlStateOf(error);
  if (state === SqlState.duplicateSchema || state === SqlState.uniqueViolation) {
    return StrataError.conflict('TENANT_EXISTS', `tenant ${code} already exists; choose another code`);
  }
  return error;
}
