import pg from 'pg';
import { StrataError } from '../errors.ts';
import type { FunctionRole } from './roles.ts';

/** Tenant identity that a unit of tenant work needs. */
export interface TenantRef {
  id: string;
  code: string;
  /** The schema name as stored (`t_<code>`), not yet quoted. */
  schemaName: string;
}

/**
 * Run `work` for one tenant inside one transaction, as `role`, with the tenant's schema
 * as the only `search_path` entry and `app.tenant_id` set to the tenant's id.
 *
 * All three settings are transaction-local (`SET LOCAL`, `set_config(…, true)`), so they
 * end with the transaction, and a pooled connection, PgBouncer's in transaction pooling
 * included, never carries one tenant's context into the next transaction. The schema
 * name is quoted as an identifier once, here; the tenant id is a bound parameter.
 */
export async function withTenant<T>(
  pool: pg.Pool,
  tenant: TenantRef,
  role: FunctionRole,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await connectOrUnavailable(pool);
  let broken: Error | undefined;

  // pg-pool drops its own 'error' listener while a client is checked out. When the server
  // ends the connection between two statements (a fast shutdown, a failover,
  // pg_terminate_backend), the client emits 'error', which without a listener ends the
  // process. Kept here, the error fails this unit's next statement instead.
  let connectionError: Error | undefined;
  const onConnectionError = (error: Error): void => {
    connectionError = error;
  };
  client.on('error', onConnectionError);

  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE ${client.escapeIdentifier(role)}`);
    await client.query(
      "SELECT set_config('search_path', $1, true), set_config('app.tenant_id', $2, true)",
      [client.escapeIdentifier(tenant.schemaName), tenant.id],
    );

    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    broken = await rollbackQuietly(client, error);
    throw error;
  } finally {
    // A connection whose rollback failed is in an unknown state, and one that failed is
    // gone: destroy it rather than hand it to the next caller.
    client.removeListener('error', onConnectionError);
    client.release(broken ?? connectionError);
  }
}

/**
 * Check out a pooled connection. When none frees up within the pool's connection
 * timeout, or the server cannot be reached, the caller gets a retryable 503.
 */
async function connectOrUnavailable(pool: pg.Pool): Promise<pg.PoolClient> {
  try {
    return await pool.connect();
  } catch (error) {
    throw new StrataError('DATABASE_UNAVAILABLE', 'no database connection is available; retry shortly', 503, { retryAfterSeconds: 5 }, { cause: error });
  }
}

/** Roll back after a failed unit of work; return the rollback's own error, if any. */
async function rollbackQuietly(client: pg.PoolClient, original: unknown): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (rollbackError) {
    return new Error('ROLLBACK failed after an error in tenant work', { cause: [original, rollbackError] });
  }
}
