import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startApiServer } from '../../api/server.ts';
import { findTenantByCode } from '../../control/tenants.ts';
import { issueToken, AGENT_SCOPES } from '../../control/tokens.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../db/embeddedPostgres.ts';
import { assertSafeToServe } from '../../db/selfCheck/selfCheck.ts';
import { startBoss } from '../../jobs/boss.ts';
import { PgBossIngestQueue } from '../../jobs/pgBossIngestQueue.ts';
import { registerWorkers } from '../../jobs/workers.ts';
import { ageHistogram } from '../../planning/ageHistogram.ts';
import { planColdFiles } from '../../planning/planColdFiles.ts';
import { openServices, type Services } from '../../services.ts';
import { provisionTenant } from '../../tenancy/provisionTenant.ts';
import { getScan } from '../../ingest/scans.ts';
import { parseCommand, UsageError } from '../args.ts';
import { cliBasics } from '../context.ts';
import { MAX_AGE_SECONDS, parseDuration } from '../duration.ts';
import { formatBytes, formatCount, formatTable, printable } from '../format.ts';
import { migrateAll } from './migrate.ts';
import { demoSanitizerReport } from './demoSanitizer.ts';
import { formatPlanSummary } from './plan.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const AGENT_BIN = path.join(PROJECT_ROOT, 'agent/strata-agent.mjs');
const DEMO_TENANT = 'demo';
const DEFAULT_ROOT = path.join(PROJECT_ROOT, 'node_modules');

export const usage = `Usage: strata demo [--root PATH] [--older-than DURATION] [--data-dir DIR]

Run Strata's main job end to end on one machine: start PostgreSQL (embedded, unless
DATABASE_URL is set), migrate, create the tenant "demo", run the self-check of
\`strata doctor\` (accepting a superuser login, with a warning), start the API and the
workers, scan PATH with strata-agent, wait until the scan is ingested, plan the files
not used (read or modified) for DURATION, and print the plan and an age histogram,
then reconcile the plan and print the sanitizer's report.

Options:
  --root PATH            tree to scan (default: this project's node_modules)
  --older-than DURATION  plan files last accessed before this age (default 365d)
  --data-dir DIR         where the embedded PostgreSQL keeps its data (default .strata/demo-pg)`;

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { root: { type: 'string' }, 'older-than': { type: 'string' }, 'data-dir': { type: 'string' } },
    usage,
  );
  const root = path.resolve(options.root ?? DEFAULT_ROOT);
  const olderThan = options['older-than'] ?? '365d';
  const olderThanSeconds = parseDuration(olderThan);
  if (olderThanSeconds === undefined || olderThanSeconds < 1 || olderThanSeconds > MAX_AGE_SECONDS) {
    throw new UsageError(`--older-than must be from 1s to 200y, written like 365d, 12w or 1h; got "${olderThan}"`, usage);
  }

  const { config, log } = cliBasics();
  let embedded: EmbeddedServer | undefined;
  let databaseUrl = config.databaseUrl;

  if (!databaseUrl) {
    step('starting embedded PostgreSQL (no DATABASE_URL set)');
    embedded = await startEmbeddedPostgres(options['data-dir'] ?? '.strata/demo-pg', log);
    databaseUrl = await ensureDatabase(embedded.url, 'strata_demo');
  }

  const services = await openServices(config, log, databaseUrl);
  try {
    step('migrating the control schema and tenant schemas');
    await migrateAll(services, { dryRun: false, concurrency: config.migrateConcurrency }, (line) => step(`  ${line}`));
    return await runMainJob(services, databaseUrl, root, olderThan, olderThanSeconds);
  } finally {
    await services.close();
    await embedded?.stop();
  }
}

async function runMainJob(
  services: Services,
  databaseUrl: string,
  root: string,
  olderThan: string,
  olderThanSeconds: number,
): Promise<number> {
  const { token, tenant } = await demoTenant(services);

  // The demo serves on the login it migrated with: the embedded server's superuser,
  // or the login in DATABASE_URL. So it accepts a privileged login, as
  // STRATA_ALLOW_SUPERUSER=1 would. Every other check still has to pass.
  const check = await assertSafeToServe(services.pool, services.log, { allowPrivilegedLogin: true });
  if (check.waived.length > 0) step(`WARNING: serving as ${check.login}, which bypasses row-level security; for development only`);

  const boss = await startBoss(databaseUrl, services.log);
  const queue = new PgBossIngestQueue(boss);
  await registerWorkers({ boss, pool: services.pool, log: services.log, finalizeConcurrency: 2, keepScans: services.config.scanRetention, finalizeMemoryMb: services.config.finalizeMemoryMb, pollingIntervalSeconds: 0.5, keys: { provider: () => services.keys, deks: services.deks } });
  const api = await startApiServer({ pool: services.pool, queue, limits: services.config.ingest, log: services.log }, '127.0.0.1', 0);
  step(`API listening on ${api.url}; workers running`);

  try {
    const tokenFile = path.resolve('.strata/demo-agent-token');
    await mkdir(path.dirname(tokenFile), { recursive: true });
    await writeFile(tokenFile, token, { mode: 0o600 });

    step(`scanning ${root} with strata-agent`);
    const scanGuid = await runAgent(api.url, tokenFile, root);
    const scan = await getScan(services.pool, tenant, scanGuid);
    step(`scan ${scanGuid} is ${scan.status}: ${formatCount(scan.fileCount ?? 0)} files in ${formatCount(scan.dirCount ?? 0)} folders that hold files (the agent also counts empty folders)`);
    if (scan.status !== 'OK') return 1;

    const summary = await planColdFiles(services.pool, tenant, { olderThanSeconds, plannedBy: 'demo', share: 'demo', apply: true });
    console.log('');
    console.log(formatPlanSummary(summary));
    console.log('');
    console.log('Age by last access (latest scan of share "demo"):');
    const buckets = await ageHistogram(services.pool, tenant, 'demo');
    console.log(formatTable(['last access', 'files', 'bytes'], buckets.map((b) => [b.label, formatCount(b.files), formatBytes(b.bytes)])));
    if (summary.plannedFiles === 0) {
      console.log(`\nNo file in ${printable(root)} was last accessed more than ${olderThan} ago.`);
      if (root === DEFAULT_ROOT) console.log('This node_modules was installed minutes ago; try --root with an older tree, such as /usr/share.');
      else console.log('Try a shorter --older-than, or a tree with files that were last read longer ago.');
    }

    console.log('');
    console.log(await demoSanitizerReport(services, tenant, 'demo', olderThanSeconds));
    return 0;
  } finally {
    await api.close();
    await boss.stop({ graceful: true, timeout: 10_000 });
  }
}

/** Create the demo tenant, or reuse it from an earlier run with a fresh agent token. */
async function demoTenant(services: Services) {
  const existing = await findTenantByCode(services.pool, DEMO_TENANT);
  if (existing) {
    const client = await services.pool.connect();
    try {
      const issued = await issueToken(client, existing.id, 'demo-agent', AGENT_SCOPES, new Date(Date.now() + 86_400_000));
      step(`reusing tenant ${DEMO_TENANT} (schema ${existing.schemaName}) with a new agent token`);
      return { token: issued.token, tenant: existing };
    } finally {
      client.release();
    }
  }

  const created = await provisionTenant(services, { code: DEMO_TENANT, name: 'Demo tenant' });
  step(`created tenant ${DEMO_TENANT} (schema ${created.schemaName})`);
  return { token: created.agentToken, tenant: created };
}

/** Run `strata-agent scan --wait` as its own process and return the scan GUID it reports. */
async function runAgent(serverUrl: string, tokenFile: string, root: string): Promise<string> {
  const args = [AGENT_BIN, 'scan', '--server', serverUrl, '--token-file', tokenFile, '--share', 'demo', '--root', root, '--wait'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });

  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    output += text;
    process.stdout.write(text);
  });

  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const guid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(output)?.[0];
  if (code !== 0 || !guid) throw new Error(`strata-agent exited with status ${code}; see its output above`);
  return guid;
}

/** Create `name` on the server if missing and return its connection string. */
async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function step(message: string): void {
  console.error(`[demo] ${message}`);
}
