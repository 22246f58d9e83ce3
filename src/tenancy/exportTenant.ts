import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { recordAuditEvent } from '../control/audit.ts';
import type { TenantRecord } from '../control/tenants.ts';
import { StrataError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { writeExportFile, type ExportManifest } from './exportFile.ts';
import { libpqConnection, pgToolOutput, runPgTool } from './pgTools.ts';

export interface ExportDeps {
  pool: pg.Pool;
  databaseUrl: string;
  /** Path of pg_dump (see findPgTool). */
  pgDump: string;
  log: Logger;
}

/**
 * Write one tenant's schema, with its data, grants, policies and migration ledger,
 * to `file` (see exportFile.ts for the format). The registry facts in the manifest and
 * the dump come from one snapshot. A transaction exports it and stays open until
 * pg_dump, which runs on it, is done. So a migration or a write that commits in
 * between is in neither the manifest nor the dump.
 *
 * The file is written under a temporary name and renamed at the end, so a failed
 * export leaves no partial file under `file`. It holds the tenant's data: it is
 * created with mode 0600. Keys and tokens are not exported.
 */
export async function exportTenant(
  deps: ExportDeps,
  tenant: TenantRecord,
  file: string,
  options: { overwrite: boolean; actor: string },
): Promise<ExportManifest> {
  const target = path.resolve(file);
  if (!options.overwrite && existsSync(target)) {
    throw StrataError.conflict('FILE_EXISTS', `${target} exists; choose another file or pass --force to replace it`);
  }
  const temporary = `${target}.partial-${randomBytes(4).toString('hex')}`;
  const archive = `${temporary}.dump`;
  const log = deps.log.child({ tenant: tenant.code });

  const client = await deps.pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await client.query<{ snapshot: string; server_version: string }>(
      "SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS server_version",
    );
    const snapshot = rows[0]!;
    const facts = await readTenantFacts(client, tenant);

    const connection = libpqConnection(deps.databaseUrl);
    await runPgTool(
      deps.pgDump,
      [
        ...connection.args,
        '--format=custom',
        `--schema=${client.escapeIdentifier(tenant.schemaName)}`,
        `--snapshot=${snapshot.snapshot}`,
        '--lock-wait-timeout=30s',
        '--no-password',
        `--file=${archive}`,
      ],
      { env: connection.env },
    );
    await client.query('COMMIT');

    const manifest = await writeExportFile(
      temporary,
      {
        exportedAt: new Date().toISOString(),
        tenant: facts.tenant,
        migrations: facts.migrations,
        source: { serverVersion: snapshot.server_version, pgDumpVersion: await pgToolOutput(deps.pgDump, ['--version']) },
      },
      archive,
    );
    await rename(temporary, target);

    await recordAuditEvent(deps.pool, {
      actor: options.actor,
      action: 'tenant.exported',
      tenant,
      details: { file: target, sha256: manifest.archive.sha256, bytes: manifest.archive.bytes, schemaVersion: facts.tenant.schemaVersion },
    });
    log.info({ file: target, bytes: manifest.archive.bytes }, 'tenant exported');
    return manifest;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
    await rm(archive, { force: true });
    await rm(temporary, { force: true });
  }
}

/** Read the registry row and the schema's migration ledger in the export's snapshot. */
async function readTenantFacts(client: pg.ClientBase, tenant: TenantRecord): Promise<Pick<ExportManifest, 'tenant' | 'migrations'>> {
  const { rows } = await client.query<{ name: string; status: 'ACTIVE' | 'SUSPENDED'; schema_version: string | null }>(
    'SELECT name, status, schema_version FROM control.tenant WHERE id = $1',
    [tenant.id],
  );
  if (!rows[0]) throw StrataError.notFound(`tenant ${tenant.code}`);

  const ledger = await client.query<{ name: string }>(`SELECT name FROM ${client.escapeIdentifier(tenant.schemaName)}.mikro_orm_migrations ORDER BY id`);
  return {
    tenant: {
      id: tenant.id,
      code: tenant.code,
      name: rows[0].name,
      status: rows[0].status,
      schemaName: tenant.schemaName,
      schemaVersion: rows[0].schema_version,
    },
    migrations: ledger.rows.map((row) => row.name),
  };
}
