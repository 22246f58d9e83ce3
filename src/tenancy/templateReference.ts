import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Roles } from '../db/roles.ts';
import { applyTenantMigrations, type TenantMigrationEntry } from './applyTenantMigrations.ts';
import { describeSchema, type SchemaDescription } from './describeSchema.ts';

/**
 * Describe what the tenant template produces: apply the template migrations to a
 * scratch schema, exactly as provisioning does, describe it, and roll it all back.
 * Nothing of the scratch schema is ever committed.
 */
export async function describeTemplate(
  pool: pg.Pool,
  orm: MikroORM,
  migrations?: readonly TenantMigrationEntry[],
): Promise<SchemaDescription> {
  const schemaName = `strata_reference_${randomBytes(6).toString('hex')}`;
  const tenantId = randomUUID();
  const client = await pool.connect();

  try {
    await client.query('BEGIN');
    await client.query(`CREATE SCHEMA ${client.escapeIdentifier(schemaName)} AUTHORIZATION ${client.escapeIdentifier(Roles.owner)}`);
    await applyTenantMigrations(client, orm, { id: tenantId, schemaName }, { migrations });
    return await describeSchema(client, schemaName, tenantId);
  } finally {
    // A connection whose rollback failed is in an unknown state: destroy it.
    const rollbackError = await client.query('ROLLBACK').then(
      () => undefined,
      (error: Error) => error,
    );
    client.release(rollbackError);
  }
}
