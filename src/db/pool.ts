import pg from 'pg';
import type { Logger } from '../log.ts';

/**
 * Open the service's connection pool. 64-bit integers (`bigint`, `count(*)`) come back
 * as JavaScript numbers: every value Strata stores in them (Unix seconds, byte sizes,
 * row counts) stays below 2^53.
 */
export function createPool(
  connectionString: string,
  max: number,
  log: Logger,
  options: { applicationName?: string; connectTimeoutMs?: number } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: options.applicationName ?? 'strata',
    types: { getTypeParser: bigintAsNumber },
  });

  // An idle client whose server went away emits 'error' on the pool; without a
  // listener Node would end the process. The next checkout opens a new connection.
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  return pool;
}

const INT8_OID = 20;

function bigintAsNumber(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === INT8_OID) return (value: string) => Number(value);
  return pg.types.getTypeParser(oid, format as 'text');
}
