/**
 * The provisioning alternative the fleet benchmark measures against running the
 * migrations: keep one pre-migrated template schema, dump it once with pg_dump (plain
 * format, data included so its migration ledger comes along), and replay that script
 * under each new schema name through the same renaming restore that `tenant import`
 * uses. Benchmark-only: provisioning runs the migrations.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Roles } from '../../src/db/roles.ts';
import { applyTenantMigrations } from '../../src/tenancy/applyTenantMigrations.ts';
import { libpqConnection, startPgTool } from '../../src/tenancy/pgTools.ts';
import { executeRestoreScript } from '../../src/tenancy/restoreScript.ts';

export interface TemplateScript {
  schemaName: string;
  lines: string[];
}

/** Create and migrate the template schema (committed), and dump it as a script. */
export async function dumpTemplate(pool: pg.Pool, orm: MikroORM, databaseUrl: string, pgDump: string, schemaName: string): Promise<TemplateScript> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`CREATE SCHEMA ${client.escapeIdentifier(schemaName)} AUTHORIZATION ${client.escapeIdentifier(Roles.owner)}`);
    await applyTenantMigrations(client, orm, { id: randomUUID(), schemaName });
    await client.query('COMMIT');
  } finally {
    client.release();
  }

  const connection = libpqConnection(databaseUrl);
  const tool = startPgTool(pgDump, [...connection.args, '--format=plain', `--schema="${schemaName}"`, '--no-password'], { env: connection.env });
  let script = '';
  tool.stdout.setEncoding('utf8').on('data', (text: string) => (script += text));
  await tool.exited;
  return { schemaName, lines: script.split('\n') };
}

/** Create one tenant schema from the template script, in one transaction. */
export async function cloneSchema(pool: pg.Pool, template: TemplateScript, schemaName: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // The template contains no tenant rows, so any tenant id pair will do.
    const unused = randomUUID();
    await executeRestoreScript(client, linesOf(template.lines), {
      fromSchema: template.schemaName,
      toSchema: schemaName,
      fromTenantId: unused,
      toTenantId: unused,
    });
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    // The script changes session settings (search_path, row_security): never pool this connection again.
    client.release(true);
  }
}

async function* linesOf(lines: string[]): AsyncGenerator<string> {
  yield* lines;
}
