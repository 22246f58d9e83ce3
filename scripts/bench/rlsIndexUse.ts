/**
 * RLS and index use: with N file rows in one tenant, are the plans of the function
 * role, to which row-level security applies, as index-based as a superuser's? Prints
 * each plan and its median execution time. Last line:
 *   app_role_index_scans=<n> superuser_index_scans=<n> app_ms=<x> superuser_ms=<x>
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { loadConfig, requireDatabaseUrl } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { openServices } from '../../src/services.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { APP_ROLE, benchQueries, loadFixture, measure, type Measurement } from './rlsPlans.ts';

const usage = `Usage: npm run bench:rls -- [--files N] [--runs N] [--keep]

Uses the database in DATABASE_URL, connected as a superuser. Creates a tenant named
bench_rls_<random> with N file rows (five per folder) in a table laid out as \`file\`
will be (partitioned by scan, owned by strata_stager, RLS enabled) and N/5 folders in
its \`dir\`, then explains each query as ${APP_ROLE} and as the superuser. The tenant is
dropped afterwards unless --keep is given.

Options:
  --files N   file rows (default 1000000)
  --runs N    EXPLAIN ANALYZE runs per query and role after one warm-up (default 5)
  --keep      keep the bench tenant and its data

Last line, over the recommended query forms (starts_with, equality):
  app_role_index_scans=<n> superuser_index_scans=<n> app_ms=<x> superuser_ms=<x>
where n counts index scan nodes in the plans and x sums the median execution times.`;

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const files = Number(values.files);
const runs = Number(values.runs);
for (const [name, value] of [['files', files], ['runs', runs]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer\n\n${usage}`);
    process.exit(2);
  }
}

const config = loadConfig();
const log = createLogger(process.env.STRATA_LOG_LEVEL ?? 'warn', { fd: 2 });
const services = await openServices(config, log, requireDatabaseUrl(config));
const code = `bench_rls_${randomBytes(3).toString('hex')}`;

try {
  await migrateControl(services.pool, services.orm);
  const tenant = await provisionTenant(services, { code, name: 'RLS index benchmark' });
  const client = await services.pool.connect();
  try {
    const started = performance.now();
    const fixture = await loadFixture(client, tenant, files);
    console.log(`loaded ${fixture.files} files in ${fixture.dirs} folders in ${((performance.now() - started) / 1000).toFixed(1)} s; prefix ${fixture.prefix}`);

    const measurements: Measurement[] = [];
    for (const query of benchQueries(fixture)) {
      for (const runner of ['app', 'superuser'] as const) {
        const result = await measure(client, tenant, query, runner, runs);
        measurements.push(result);
        console.log(`\n== ${query.label} as ${runner === 'app' ? APP_ROLE : 'superuser'}: ${result.medianMs.toFixed(3)} ms, ${result.indexScans} index scan(s)`);
        console.log(result.planText);
      }
    }

    console.log('');
    for (const result of measurements) {
      console.log(`${result.query.label.padEnd(42)} ${result.runner.padEnd(9)} ${result.medianMs.toFixed(3).padStart(9)} ms  ${result.nodes.join(' > ')}`);
    }
    console.log('');
    console.log(summary(measurements.filter((result) => !result.query.recommended), 'like_'));
    console.log(summary(measurements.filter((result) => result.query.recommended), ''));
  } finally {
    client.release();
  }
} finally {
  if (!values.keep) {
    await services.pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(`t_${code}`)} CASCADE`);
    await services.pool.query('DELETE FROM control.tenant WHERE code = $1', [code]);
  }
  await services.close();
}

function summary(results: Measurement[], prefix: string): string {
  const sum = (runner: string, pick: (result: Measurement) => number) =>
    results.filter((result) => result.runner === runner).reduce((total, result) => total + pick(result), 0);
  return [
    `${prefix}app_role_index_scans=${sum('app', (result) => result.indexScans)}`,
    `${prefix}superuser_index_scans=${sum('superuser', (result) => result.indexScans)}`,
    `${prefix}app_ms=${sum('app', (result) => result.medianMs).toFixed(3)}`,
    `${prefix}superuser_ms=${sum('superuser', (result) => result.medianMs).toFixed(3)}`,
  ].join(' ');
}
