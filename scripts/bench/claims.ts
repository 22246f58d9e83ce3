/**
 * Claim benchmark: agents claim PLANNED objects through the HTTP API and report every
 * one as STUBBED in one batch per claim, until the queue is empty. It measures what
 * the server adds per file when agents tier many small files. Last line on stdout:
 *   objects=<n> agents=<n> batch=<n> objects_per_s=<n> claim_p50_ms=<n> claim_p99_ms=<n>
 *   results_p50_ms=<n> results_p99_ms=<n> errors=<n>
 */
import { parseArgs } from 'node:util';
import { startApiServer } from '../../src/api/server.ts';
import { loadConfig } from '../../src/config.ts';
import { findTenantByCode } from '../../src/control/tenants.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { PgBossIngestQueue } from '../../src/jobs/pgBossIngestQueue.ts';
import { createLogger } from '../../src/log.ts';
import { openServices } from '../../src/services.ts';
import { deleteTenant } from '../../src/tenancy/deleteTenant.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { migrateTenants } from '../../src/tenancy/migrateTenants.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';

const usage = `Usage: npx tsx scripts/bench/claims.ts [--objects N] [--agents N] [--batch N] [--dirs N]

Provisions a tenant in the database in DATABASE_URL (required; use a database of its
own, as the benchmark applies pending migrations), inserts N PLANNED tier objects,
serves the API in this process on 127.0.0.1, and runs the agents at once: each claims
up to --batch objects, then reports them all as STUBBED in one results request. The
tenant is deleted afterwards unless --keep is given.

Options:
  --objects N   PLANNED objects (default 100000)
  --agents N    agents claiming at once (default 4)
  --batch N     objects per claim (default 256)
  --dirs N      folders the objects are spread over (default 1000)
  --keep        keep the benchmark tenant and its data`;

const SHA = 'ab'.repeat(32);

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      objects: { type: 'string', default: '100000' },
      agents: { type: 'string', default: '4' },
      batch: { type: 'string', default: '256' },
      dirs: { type: 'string', default: '1000' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const objects = Number(values.objects);
  const agents = Number(values.agents);
  const batch = Number(values.batch);
  const dirs = Number(values.dirs);

  const config = loadConfig();
  const log = createLogger('warn');
  const services = await openServices(config, log, config.databaseUrl!);
  await migrateControl(services.pool, services.orm);
  await migrateTenants(services.pool, services.orm, services.log, { concurrency: config.migrateConcurrency });

  const code = `bench_claims_${Date.now().toString(36)}`;
  const tenant = await provisionTenant(services, { code, name: 'claims benchmark' });
  const schema = `"${tenant.schemaName}"`;
  await services.pool.query(
    `INSERT INTO ${schema}.dir (tenant_id, share_name, dir_path, dir_hash)
     SELECT $1, 'bench', 'D:\\bench\\d' || g, g FROM generate_series(1, $2) g`,
    [tenant.id, dirs],
  );
  await services.pool.query(
    `INSERT INTO ${schema}.tier_object (tenant_id, share_name, scan_id, dir_hash, name, full_path, size_bytes, atime_unix, mtime_unix, planned_by)
     SELECT $1, 'bench', 1, 1 + g % $3, 'f' || g || '.dat', 'D:\\bench\\d' || (1 + g % $3) || '\\f' || g || '.dat', 4096, 0, 0, 'bench'
       FROM generate_series(1, $2) g`,
    [tenant.id, objects, dirs],
  );
  await services.pool.query(`ANALYZE ${schema}.tier_object`);

  const boss = await startBoss(config.databaseUrl!, log);
  const api = await startApiServer(
    { pool: services.pool, queue: new PgBossIngestQueue(boss), limits: config.ingest, log, acting: config.acting },
    '127.0.0.1',
    0,
  );

  const claimMs: number[] = [];
  const resultMs: number[] = [];
  let errors = 0;
  let done = 0;
  const post = async (path: string, body: unknown, samples: number[]): Promise<any> => {
    const started = performance.now();
    const response = await fetch(api.url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.agentToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    samples.push(performance.now() - started);
    if (!response.ok) errors++;
    return response.json();
  };

  const started = performance.now();
  await Promise.all(
    Array.from({ length: agents }, async () => {
      for (;;) {
        const claimed = await post('/v1/actions/claim', { share: 'bench', kind: 'tier', max: batch }, claimMs);
        const actions = claimed.actions ?? [];
        if (actions.length === 0) return;
        const results = actions.map((action: any) => ({ id: action.id, fence: action.fence, outcome: 'STUBBED', sha256: SHA }));
        const reported = await post('/v1/actions/results', { results }, resultMs);
        done += reported.results.filter((result: any) => result.accepted).length;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;

  await api.close();
  await boss.stop({ graceful: false, close: true, timeout: 5_000 });
  const record = await findTenantByCode(services.pool, code);
  if (record && !values.keep) await deleteTenant(services, record, 'bench:claims');
  await services.close();

  console.log(
    `objects=${done} agents=${agents} batch=${batch} objects_per_s=${Math.round(done / seconds)} ` +
      `claim_p50_ms=${percentile(claimMs, 0.5).toFixed(1)} claim_p99_ms=${percentile(claimMs, 0.99).toFixed(1)} ` +
      `results_p50_ms=${percentile(resultMs, 0.5).toFixed(1)} results_p99_ms=${percentile(resultMs, 0.99).toFixed(1)} errors=${errors}`,
  );
}

await main();
