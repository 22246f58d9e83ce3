/**
 * Fleet migration benchmark: provision N tenants, run a no-op tenant migration over
 * all of them, then a migration that adds a column and an index to `dir` in every
 * schema (a bench-only migration, never shipped in the template). It also measures the
 * provisioning alternative (cloning a pre-migrated template schema) on a sample, and
 * checks that cloned and migrated schemas match the template. Last line:
 *   tenants=<n> provision_s_per_tenant=<x> noop_s=<x> ddl_s=<x>
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Migration } from '@mikro-orm/migrations';
import { loadConfig, requireDatabaseUrl } from '../../src/config.ts';
import { Roles } from '../../src/db/roles.ts';
import { createLogger } from '../../src/log.ts';
import { openServices } from '../../src/services.ts';
import { applyTenantMigrations } from '../../src/tenancy/applyTenantMigrations.ts';
import { forEachConcurrently } from '../../src/tenancy/boundedConcurrency.ts';
import { checkTenantDrift } from '../../src/tenancy/checkTenantDrift.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { migrateTenants, type MigrateTenantsReport } from '../../src/tenancy/migrateTenants.ts';
import { findPgTool } from '../../src/tenancy/pgTools.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { TENANT_MIGRATIONS } from '../../tenant-template/index.ts';
import { cloneSchema, dumpTemplate } from './cloneFromTemplate.ts';

const usage = `Usage: npm run bench:migrate -- [--tenants N] [--sample N] [--concurrency N] [--keep]

Uses the database in DATABASE_URL. Creates tenants named bm<random>_<i> and drops them
afterwards, with their migration runs, unless --keep is given. Kept tenants have run
the bench-only migration T9900_bench_dir_label, so \`strata migrate --check\` lists
them as different from the template.

Options:
  --tenants N       tenants to provision and migrate (default 1000)
  --sample N        schemas made each way (migrations, template clone) to compare
                    provisioning methods (default 50)
  --concurrency N   tenant schemas migrated at once (default STRATA_MIGRATE_CONCURRENCY, 8)
  --keep            keep the bench tenants

Last line: tenants=<n> provision_s_per_tenant=<x> noop_s=<x> ddl_s=<x>`;

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '1000' },
    sample: { type: 'string', default: '50' },
    concurrency: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const config = loadConfig();
const tenantCount = Number(values.tenants);
const sample = Number(values.sample);
const concurrency = Number(values.concurrency ?? config.migrateConcurrency);
for (const [name, value] of [['tenants', tenantCount], ['sample', sample], ['concurrency', concurrency]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer\n\n${usage}`);
    process.exit(2);
  }
}

/** The bench-only migration: one column and one index on `dir`, in every schema. */
class BenchDirLabel extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE dir ADD COLUMN bench_label text');
    this.addSql('CREATE INDEX dir_bench_label ON dir (bench_label)');
  }
}
const withBenchMigration = [...TENANT_MIGRATIONS, { name: 'T9900_bench_dir_label', class: BenchDirLabel }];

const databaseUrl = requireDatabaseUrl(config);
const log = createLogger(process.env.STRATA_LOG_LEVEL ?? 'warn', { fd: 2 });
const work = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-fleet-'));
const services = await openServices({ ...config, keyringDir: path.join(work, 'keyring') }, log, databaseUrl);
const prefix = `bm${randomBytes(3).toString('hex')}`;
const codes = Array.from({ length: tenantCount }, (_, i) => `${prefix}_${String(i).padStart(5, '0')}`);
const scratchSchemas: string[] = [];
const runIds: string[] = [];

try {
  await migrateControl(services.pool, services.orm);
  console.error(`provisioning ${tenantCount} tenants (${prefix}_*) one at a time`);
  const provisionSeconds = await timed(async () => {
    for (const [index, code] of codes.entries()) {
      await provisionTenant(services, { code, name: `Fleet benchmark ${index}` });
      if ((index + 1) % 100 === 0) console.error(`  ${index + 1} provisioned`);
    }
  });

  const methods = await compareProvisioning();

  const noop = await timedRun(() => migrateTenants(services.pool, services.orm, log, { concurrency, tenants: codes, startedBy: 'bench:migrate' }));
  const noopCliSeconds = await timeCliNoop();
  const ddl = await timedRun(() =>
    migrateTenants(services.pool, services.orm, log, { concurrency, tenants: codes, startedBy: 'bench:migrate', migrations: withBenchMigration }),
  );
  const check = await timed(async () => {
    const report = await checkTenantDrift(services.pool, services.orm, log, { concurrency, tenants: codes, migrations: withBenchMigration });
    if (report.drifted + report.failed > 0) throw new Error(`${report.drifted + report.failed} bench schemas differ from the template after the DDL run`);
  });

  console.log(
    `provision_migrations_s_per_schema=${methods.migrations.toFixed(4)} provision_clone_s_per_schema=${methods.clone.toFixed(4)} sample=${sample} ` +
      `noop_cli_s=${noopCliSeconds.toFixed(2)} check_s=${check.toFixed(2)} concurrency=${concurrency}`,
  );
  console.log(
    `tenants=${tenantCount} provision_s_per_tenant=${(provisionSeconds / tenantCount).toFixed(4)} noop_s=${noop.toFixed(2)} ddl_s=${ddl.toFixed(2)}`,
  );
} finally {
  if (!values.keep) await cleanUp();
  await services.close();
  await rm(work, { recursive: true, force: true });
}

/**
 * Make `sample` schemas by running the migrations and `sample` by cloning a template
 * schema, one at a time, timing only the schema's transaction. Both sets must then
 * match the template exactly. Returns seconds per schema for each method.
 */
async function compareProvisioning(): Promise<{ migrations: number; clone: number }> {
  const migrated = Array.from({ length: sample }, (_, i) => `t_${prefix}_m${i}`);
  const cloned = Array.from({ length: sample }, (_, i) => `t_${prefix}_c${i}`);
  const templateName = `${prefix}_template`;
  scratchSchemas.push(templateName, ...migrated, ...cloned);

  console.error(`comparing provisioning methods on ${sample} schemas each`);
  const migrations = await timed(async () => {
    for (const schemaName of migrated) {
      const client = await services.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`CREATE SCHEMA ${client.escapeIdentifier(schemaName)} AUTHORIZATION ${client.escapeIdentifier(Roles.owner)}`);
        await applyTenantMigrations(client, services.orm, { id: randomUUID(), schemaName });
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    }
  });

  const template = await dumpTemplate(services.pool, services.orm, databaseUrl, findPgTool('pg_dump', config.pgDumpPath), templateName);
  const clone = await timed(async () => {
    for (const schemaName of cloned) await cloneSchema(services.pool, template, schemaName);
  });

  await assertMatchesTemplate([...migrated, ...cloned]);
  return { migrations: migrations / sample, clone: clone / sample };
}

/** Register scratch schemas as tenants for a moment, so the drift check reads them, and compare. */
async function assertMatchesTemplate(schemas: string[]): Promise<void> {
  const scratchCodes = schemas.map((schema) => schema.slice(2));
  await services.pool.query(
    `INSERT INTO control.tenant (id, code, name, schema_name, key_ref, wrapped_dek, schema_version)
     SELECT gen_random_uuid(), code, 'bench scratch', 't_' || code, 'none', 'none', $2 FROM unnest($1::text[]) code`,
    [scratchCodes, TENANT_MIGRATIONS.at(-1)!.name],
  );
  try {
    const report = await checkTenantDrift(services.pool, services.orm, log, { concurrency, tenants: scratchCodes });
    const bad = report.outcomes.filter((outcome) => outcome.differences.length > 0 || outcome.error);
    if (bad.length > 0) throw new Error(`${bad.length} sample schemas differ from the template, e.g. ${JSON.stringify(bad[0])}`);
  } finally {
    await services.pool.query('DELETE FROM control.tenant WHERE code = ANY ($1::text[])', [scratchCodes]);
  }
}

/** Time `strata migrate --tenants …` as an operator runs it: a new process, control check included. */
async function timeCliNoop(): Promise<number> {
  const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/strata.mjs');
  return timed(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [cli, 'migrate', '--tenants', codes.join(','), '--concurrency', String(concurrency), '--progress', 'quiet'], {
          env: { ...process.env, DATABASE_URL: databaseUrl },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let output = '';
        child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
        child.on('error', reject);
        child.on('close', (code) => {
          const run = /run ([0-9a-f-]{36}) DONE/.exec(output);
          if (run) runIds.push(run[1]!);
          if (code === 0) resolve();
          else reject(new Error(`strata migrate exited with ${code}:\n${output}`));
        });
      }),
  );
}

async function timedRun(run: () => Promise<MigrateTenantsReport>): Promise<number> {
  let report: MigrateTenantsReport | undefined;
  const seconds = await timed(async () => {
    report = await run();
  });
  runIds.push(report!.runId);
  if (report!.status !== 'DONE') throw new Error(`migration run ${report!.runId} ended ${report!.status}: ${report!.outcomes.find((o) => o.error)?.error}`);
  return seconds;
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Drop the bench schemas, registry rows (their tokens go with them) and migration runs. */
async function cleanUp(): Promise<void> {
  console.error('dropping the bench tenants');
  const { rows } = await services.pool.query<{ code: string; schema_name: string }>('SELECT code, schema_name FROM control.tenant WHERE code LIKE $1', [`${prefix}\\_%`]);
  const schemas = [...rows.map((row) => row.schema_name), ...scratchSchemas];
  await forEachConcurrently(schemas, 2, async (schema) => {
    await services.pool.query(`DROP SCHEMA IF EXISTS ${escapeName(schema)} CASCADE`);
  });
  await services.pool.query('DELETE FROM control.tenant WHERE code = ANY ($1::text[])', [rows.map((row) => row.code)]);
  await services.pool.query('DELETE FROM control.migration_run WHERE run_id = ANY ($1::uuid[])', [runIds]);
}

function escapeName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
