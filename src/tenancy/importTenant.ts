import { randomUUID } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import pg from 'pg';
import type { MikroORM } from '@mikro-orm/postgresql';
import { recordAuditEvent } from '../control/audit.ts';
import { AGENT_SCOPES, issueToken } from '../control/tokens.ts';
import { StrataError } from '../errors.ts';
import type { KeyProvider } from '../keys/keyProvider.ts';
import type { Logger } from '../log.ts';
import { TENANT_MIGRATIONS } from '../../tenant-template/index.ts';
import { applyTenantMigrations, type TenantMigrationEntry } from './applyTenantMigrations.ts';
import { describeSchema } from './describeSchema.ts';
import { archiveStream, readExportFile, type ExportManifest } from './exportFile.ts';
import { libpqConnection, startPgTool } from './pgTools.ts';
import { executeRestoreScript, type RestoreStats, type TenantRename } from './restoreScript.ts';
import { compareSchemas, formatDifference } from './schemaDrift.ts';
import { schemaNameFor } from './schemaName.ts';
import { describeTemplate } from './templateReference.ts';

export interface ImportDeps {
  pool: pg.Pool;
  orm: MikroORM;
  keys: KeyProvider;
  log: Logger;
  databaseUrl: string;
  /** Path of pg_restore (see findPgTool). */
  pgRestore: string;
  /** Tests replace the template. */
  migrations?: readonly TenantMigrationEntry[];
}

export interface ImportRequest {
  file: string;
  /** Import under this code; by default the exported tenant's own code. */
  code?: string;
  /** Display name; by default the exported one. */
  name?: string;
  actor: string;
}

export interface ImportedTenant {
  id: string;
  code: string;
  schemaName: string;
  schemaVersion: string;
  status: 'ACTIVE' | 'SUSPENDED';
  /** The new agent token, in plaintext: print it once. Exported tokens are not carried over. */
  agentToken: string;
  from: ExportManifest['tenant'];
  restored: RestoreStats;
}

/**
 * Restore a tenant export into this database, under its own code (same tenant id) or
 * under a new one. A new code means a new schema name and a new tenant id, which the
 * restore writes into every row and tenant CHECK constraint as it streams (see
 * restoreScript.ts).
 *
 * All of it is one transaction: the restore, any template migrations the export is
 * behind on, the checks below, the registry row with a new data key, and a new agent
 * token. Before committing it checks that the transaction changed nothing outside
 * the new schema, that every row carries the new tenant id, and that the schema
 * matches the template exactly. A failure rolls everything back and destroys the new key.
 *
 * Needs a login that is a superuser or has BYPASSRLS: pg_dump's COPY statements load
 * tables whose row-level security is forced. The tenant's data key is new, so
 * anything encrypted with the exported tenant's key would be unreadable.
 * TODO: carry the data key over (rewrapped for the new tenant) once tenant schemas hold encrypted values.
 */
export async function importTenant(deps: ImportDeps, request: ImportRequest): Promise<ImportedTenant> {
  const { manifest, archiveOffset } = await readExportFile(request.file);
  const migrations = deps.migrations ?? TENANT_MIGRATIONS;
  const code = request.code ?? manifest.tenant.code;
  const rename: TenantRename = {
    fromSchema: manifest.tenant.schemaName,
    toSchema: schemaNameFor(code),
    fromTenantId: manifest.tenant.id,
    toTenantId: code === manifest.tenant.code ? manifest.tenant.id : randomUUID(),
  };
  const name = request.name ?? manifest.tenant.name;
  const log = deps.log.child({ tenant: code, tenantId: rename.toTenantId, from: manifest.tenant.code });

  checkLedger(manifest, migrations);
  await checkTarget(deps.pool, code, rename);
  const template = await describeTemplate(deps.pool, deps.orm, migrations);

  const owner = { id: rename.toTenantId, code };
  const key = await deps.keys.createTenantKey(owner);
  const client = new pg.Client({ connectionString: deps.databaseUrl, application_name: 'strata import' });
  await client.connect();

  try {
    await client.query('BEGIN');
    const restored = await restore(client, deps, request.file, archiveOffset, rename);

    // pg_dump's script turned row security off for the load; migrations run as the owner role need it on.
    await client.query('SET row_security = on');
    const migrated = await applyTenantMigrations(client, deps.orm, { id: rename.toTenantId, schemaName: rename.toSchema }, { migrations });
    const schemaVersion = migrated.applied.at(-1) ?? manifest.migrations.at(-1) ?? '';

    await checkNothingElseChanged(client, rename.toSchema);
    await checkTenantIds(client, rename);
    await checkMatchesTemplate(client, template, rename);

    await client.query(
      `INSERT INTO control.tenant (id, code, name, schema_name, key_ref, wrapped_dek, key_version, schema_version, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [rename.toTenantId, code, name, rename.toSchema, key.keyRef, key.wrappedDek, key.keyVersion ?? 1, schemaVersion, manifest.tenant.status],
    );
    const token = await issueToken(client, rename.toTenantId, 'agent', AGENT_SCOPES, null);
    await recordAuditEvent(client, {
      actor: request.actor,
      action: 'tenant.imported',
      tenant: owner,
      details: {
        file: request.file,
        sha256: manifest.archive.sha256,
        fromTenantId: manifest.tenant.id,
        fromCode: manifest.tenant.code,
        exportedAt: manifest.exportedAt,
        migrationsApplied: migrated.applied,
        rows: restored.rows,
      },
    });
    await client.query('COMMIT');

    log.info({ rows: restored.rows, tables: restored.tables }, 'tenant imported');
    return {
      id: rename.toTenantId,
      code,
      schemaName: rename.toSchema,
      schemaVersion,
      status: manifest.tenant.status,
      agentToken: token.token,
      from: manifest.tenant,
      restored,
    };
  } catch (error) {
    // The key goes even when the rollback fails: a lost connection rolls back too.
    await client.query('ROLLBACK').catch((rollbackError: Error) => log.warn({ err: rollbackError }, 'rollback after a failed import failed'));
    await deps.keys.destroyTenantKey(owner, key.keyRef);
    log.info({ err: error }, 'tenant import failed; nothing was kept');
    throw error;
  } finally {
    await client.end();
  }
}

/** The export's ledger must be a prefix of this release's template; a newer export cannot be checked. */
function checkLedger(manifest: ExportManifest, migrations: readonly TenantMigrationEntry[]): void {
  const known = migrations.map((entry) => entry.name);
  const mismatch = manifest.migrations.findIndex((name, index) => known[index] !== name);
  if (mismatch !== -1) {
    throw StrataError.invalid(
      'EXPORT_TOO_NEW',
      `the export's schema ran migration ${manifest.migrations[mismatch]} where this release has ${known[mismatch] ?? 'none'}; import it with the release that exported it or a later one`,
    );
  }
}

async function checkTarget(pool: pg.Pool, code: string, rename: TenantRename): Promise<void> {
  const { rows } = await pool.query<{ migrated: boolean; privileged: boolean }>(
    `SELECT to_regclass('control.audit_event') IS NOT NULL AS migrated,
            (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user) AS privileged`,
  );
  if (!rows[0]!.migrated) throw new StrataError('NOT_MIGRATED', 'this database is not migrated; run `strata migrate` first', 409);
  if (!rows[0]!.privileged) {
    throw new StrataError(
      'IMPORT_NEEDS_BYPASSRLS',
      'importing loads tables whose row-level security is forced, which needs a superuser or BYPASSRLS login; run the import with such a DATABASE_URL',
      403,
    );
  }

  const taken = await pool.query(
    `SELECT 1 FROM control.tenant WHERE code = $1 OR id = $2 OR schema_name = $3
     UNION ALL SELECT 1 FROM pg_namespace WHERE nspname = $3`,
    [code, rename.toTenantId, rename.toSchema],
  );
  if (taken.rows.length > 0) {
    throw StrataError.conflict('TENANT_EXISTS', `tenant ${code} (schema ${rename.toSchema}) already exists here; import under another code with --code`);
  }
}

/** Run pg_restore on the archive and execute its script, renamed, on `client`. */
async function restore(client: pg.Client, deps: ImportDeps, file: string, archiveOffset: number, rename: TenantRename): Promise<RestoreStats> {
  const connection = libpqConnection(deps.databaseUrl);
  const tool = startPgTool(deps.pgRestore, ['--file=-', '--no-password'], { env: connection.env, stdin: archiveStream(file, archiveOffset) });

  let restored: RestoreStats;
  try {
    restored = await executeRestoreScript(client, lines(tool.stdout), rename);
  } catch (error) {
    tool.kill();
    // pg_restore's own exit is of no interest once the script failed.
    await tool.exited.catch(() => undefined);
    throw error;
  }
  await tool.exited;
  return restored;
}

/** Split a UTF-8 stream into lines on LF only, as pg_restore writes them. */
async function* lines(stream: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of stream) {
    pending += decoder.write(chunk as Buffer);
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
    }
  }
  pending += decoder.end();
  if (pending !== '') yield pending;
}

/**
 * Reject catalogue rows that this transaction wrote outside the new schema and its
 * TOAST tables. Such rows have this transaction's id as xmin, so `age(xmin) = 0`.
 */
async function checkNothingElseChanged(client: pg.ClientBase, schemaName: string): Promise<void> {
  const { rows } = await client.query<{ object: string }>(
    `SELECT 'relation ' || n.nspname || '.' || c.relname AS object
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE age(c.xmin) = 0 AND n.nspname NOT IN ($1, 'pg_toast')
     UNION ALL
     SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE age(p.xmin) = 0 AND n.nspname <> $1
     UNION ALL
     SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE age(t.xmin) = 0 AND n.nspname NOT IN ($1, 'pg_toast')
     UNION ALL
     SELECT 'schema ' || nspname FROM pg_namespace WHERE age(xmin) = 0 AND nspname <> $1
     UNION ALL
     SELECT 'role ' || rolname FROM pg_authid WHERE age(xmin) = 0
     UNION ALL
     SELECT 'role membership' FROM pg_auth_members WHERE age(xmin) = 0
     LIMIT 10`,
    [schemaName],
  );
  if (rows.length > 0) {
    throw StrataError.invalid('INVALID_EXPORT', `the export changed objects outside schema ${schemaName}: ${rows.map((row) => row.object).join(', ')}`);
  }
}

/** Every row of every table with a `tenant_id` column must belong to the new tenant. */
async function checkTenantIds(client: pg.ClientBase, rename: TenantRename): Promise<void> {
  const { rows: tables } = await client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
      WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND c.relkind = 'r'`,
    [rename.toSchema],
  );
  const schema = client.escapeIdentifier(rename.toSchema);

  for (const table of tables) {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${schema}.${client.escapeIdentifier(table.relname)} WHERE tenant_id IS DISTINCT FROM $1`,
      [rename.toTenantId],
    );
    if (rows[0]!.n > 0) {
      throw StrataError.invalid('INVALID_EXPORT', `${rows[0]!.n} row(s) of ${table.relname} do not belong to the imported tenant`);
    }
  }
}

/** The restored schema must equal what the template migrations produce, and name the old tenant nowhere. */
async function checkMatchesTemplate(client: pg.ClientBase, template: Map<string, string>, rename: TenantRename): Promise<void> {
  const description = await describeSchema(client, rename.toSchema, rename.toTenantId);
  const differences = compareSchemas(template, description);
  if (differences.length > 0) {
    const listed = differences.slice(0, 10).map(formatDifference).join('; ');
    throw StrataError.invalid('INVALID_EXPORT', `the restored schema differs from the template in ${differences.length} place(s): ${listed}`);
  }

  if (rename.fromSchema === rename.toSchema) return;
  // Tenant codes allow only [a-z0-9_], so the schema name needs no regex escaping.
  const oldSchema = new RegExp(`(?<![A-Za-z0-9_$])${rename.fromSchema}(?![A-Za-z0-9_$])`);
  for (const [object, definition] of description) {
    if (oldSchema.test(definition) || definition.toLowerCase().includes(rename.fromTenantId)) {
      throw StrataError.invalid('INVALID_EXPORT', `${object} still names the exported schema or tenant: ${definition.slice(0, 200)}`);
    }
  }
}
