import { cliActor } from '../../control/audit.ts';
import { requireDatabaseUrl } from '../../config.ts';
import { exportTenant } from '../../tenancy/exportTenant.ts';
import { importTenant } from '../../tenancy/importTenant.ts';
import { findPgTool } from '../../tenancy/pgTools.ts';
import { parseCommand, required } from '../args.ts';
import { withServices } from '../context.ts';
import { requireTenant } from '../findTenant.ts';

const exportUsage = `Usage: strata tenant export --tenant CODE --out FILE [--force]

Write the tenant's schema (tables, rows, indexes, policies, grants and its migration
ledger) with pg_dump to FILE, with a manifest naming the tenant and the SHA-256 of
the dump. The registry facts and the dump come from one snapshot. FILE is created with
mode 0600; it holds the tenant's data but no keys or tokens. Needs pg_dump of the
server's major version or later (STRATA_PG_DUMP sets its path).

Options:
  --tenant CODE   tenant code
  --out FILE      file to write
  --force         replace FILE if it exists`;

const importUsage = `Usage: strata tenant import --file FILE [--code CODE] [--name NAME]

Restore a tenant export into the database in DATABASE_URL, in one transaction, with
a new data key and a new agent token (printed once; exported tokens are not carried).

Under the exported code the tenant keeps its id. Under a new --code it gets a new
schema name and a new tenant id, rewritten in every row and in the tenant CHECK
constraints of its partitions. The import applies any template migrations the export
lacks, then checks that nothing outside the new schema changed, that every row belongs
to the new tenant and that the schema matches the template; otherwise nothing is kept.
The tenant keeps the status it was exported with (a suspended tenant stays suspended).

Needs: a migrated database (strata migrate), a superuser or BYPASSRLS login (the
dump loads tables with forced row-level security), the strata_* roles, pg_restore of
the dump's version or later (STRATA_PG_RESTORE sets its path), and a file exported by
Strata: the script in it is run as that login.

Options:
  --file FILE     export file written by \`strata tenant export\`
  --code CODE     import under this code (default: the exported code)
  --name NAME     display name (default: the exported name)`;

export async function exportCommand(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } }, exportUsage);
  const code = required(options.tenant, 'tenant', exportUsage);
  const file = required(options.out, 'out', exportUsage);

  return withServices(async (services) => {
    const pgDump = findPgTool('pg_dump', services.config.pgDumpPath);
    const tenant = await requireTenant(services, code);
    const manifest = await exportTenant(
      { pool: services.pool, databaseUrl: requireDatabaseUrl(services.config), pgDump, log: services.log },
      tenant,
      file,
      { overwrite: options.force === true, actor: cliActor() },
    );
    console.log(
      `tenant ${code} exported to ${file}: version ${manifest.tenant.schemaVersion}, ${manifest.archive.bytes} bytes, sha256 ${manifest.archive.sha256}`,
    );
    return 0;
  });
}

export async function importCommand(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { file: { type: 'string' }, code: { type: 'string' }, name: { type: 'string' } }, importUsage);
  const file = required(options.file, 'file', importUsage);

  return withServices(async (services) => {
    const pgRestore = findPgTool('pg_restore', services.config.pgRestorePath);
    const tenant = await importTenant(
      { ...services, databaseUrl: requireDatabaseUrl(services.config), pgRestore },
      { file, code: options.code, name: options.name, actor: cliActor() },
    );

    const from = tenant.code === tenant.from.code ? '' : ` (exported as ${tenant.from.code})`;
    console.log(
      `tenant ${tenant.code}${from} imported: schema ${tenant.schemaName}, version ${tenant.schemaVersion}, ${tenant.restored.rows} rows in ${tenant.restored.tables} tables, status ${tenant.status.toLowerCase()}`,
    );
    console.log("agent token (shown once; store it in the agent's token file):");
    console.log(tenant.agentToken);
    return 0;
  });
}
