import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { apiDepsFor } from '../../api/app.ts';
import { startApiServer } from '../../api/server.ts';
import { setTarget } from '../../acting/targets.ts';
import { findTenantByCode } from '../../control/tenants.ts';
import { Roles } from '../../db/roles.ts';
import { withTenant, type TenantRef } from '../../db/tenantContext.ts';
import { deleteTenant } from '../../tenancy/deleteTenant.ts';
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
import { buildDemoShare } from './demoShare.ts';
import { formatPlanSummary } from './plan.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const AGENT_BIN = path.join(PROJECT_ROOT, 'agent/strata-agent.mjs');
const DEMO_TENANT = 'demo';
const DEFAULT_ROOT = path.join(PROJECT_ROOT, 'node_modules');

export const usage = `Usage: strata demo [--root PATH] [--files N] [--older-than DURATION] [--data-dir DIR]

Run Strata's main job end to end on one machine: start PostgreSQL (embedded, unless
DATABASE_URL is set), migrate, create the tenant "demo" afresh, run the self-check of
\`strata doctor\` (accepting a superuser login, with a warning), and start the API and
the workers. Then:
  1. copy up to N files of PATH into the demo share .strata/demo/share, with access
     and modification times spread over the last six years (PATH itself is only read);
  2. scan the share with strata-agent and wait until the scan is ingested;
  3. plan the files not used (read or modified) for DURATION, and print the plan and
     an age histogram;
  4. tier the plan with strata-agent act to the local Tier-2 folder .strata/demo/tier2,
     leaving stubs in the share, and print what moved;
  5. reconcile Tier-2 with the plan and print the sanitizer's report.

Options:
  --root PATH            tree to copy the demo share from (default: this project's node_modules)
  --files N              files to copy, from 1 to 100000 (default 2000)
  --older-than DURATION  plan files not used for this long (default 365d)
  --data-dir DIR         where the embedded PostgreSQL keeps its data (default .strata/demo-pg)`;

const DEMO_DIR = '.strata/demo';

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { root: { type: 'string' }, files: { type: 'string' }, 'older-than': { type: 'string' }, 'data-dir': { type: 'string' } },
    usage,
  );
  const root = path.resolve(options.root ?? DEFAULT_ROOT);
  const files = Number(options.files ?? '2000');
  if (!Number.isInteger(files) || files < 1 || files > 100_000) {
    throw new UsageError(`--files must be a whole number from 1 to 100000; got "${options.files}"`, usage);
  }
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
    return await runMainJob(services, databaseUrl, { root, files, olderThan, olderThanSeconds });
  } finally {
    await services.close();
    await embedded?.stop();
  }
}

interface DemoOptions {
  root: string;
  files: number;
  olderThan: string;
  olderThanSeconds: number;
}

async function runMainJob(services: Services, databaseUrl: string, options: DemoOptions): Promise<number> {
  const { token, tenant } = await demoTenant(services);

  // The demo serves on the login it migrated with: the embedded server's superuser,
  // or the login in DATABASE_URL. So it accepts a privileged login, as
  // STRATA_ALLOW_SUPERUSER=1 would. Every other check still has to pass.
  const check = await assertSafeToServe(services.pool, services.log, { allowPrivilegedLogin: true });
  if (check.waived.length > 0) step(`WARNING: serving as ${check.login}, which bypasses row-level security; for development only`);

  const boss = await startBoss(databaseUrl, services.log, { listen: true });
  const queue = new PgBossIngestQueue(boss);
  await registerWorkers({ boss, pool: services.pool, log: services.log, finalizeConcurrency: 2, keepScans: services.config.scanRetention, finalizeMemoryMb: services.config.finalizeMemoryMb, pollingIntervalSeconds: 0.5, keys: { provider: () => services.keys, deks: services.deks } });
  const api = await startApiServer(apiDepsFor(services, queue), '127.0.0.1', 0);
  step(`API listening on ${api.url}; workers running`);

  try {
    const tokenFile = path.resolve('.strata/demo-agent-token');
    await mkdir(path.dirname(tokenFile), { recursive: true });
    await writeFile(tokenFile, token, { mode: 0o600 });

    const shareRoot = path.resolve(DEMO_DIR, 'share');
    const tier2Root = path.resolve(DEMO_DIR, 'tier2');
    step(`copying up to ${formatCount(options.files)} files of ${printable(options.root)} into ${printable(shareRoot)}, aged over six years`);
    const share = await buildDemoShare(options.root, shareRoot, options.files);
    step(`demo share holds ${formatCount(share.files)} files, ${formatBytes(share.bytes)}`);
    if (share.files === 0) {
      console.log(`\n${printable(options.root)} has no regular files to copy; try --root with another tree, such as /usr/share.`);
      return 1;
    }

    step(`scanning ${printable(shareRoot)} with strata-agent`);
    const scanGuid = await runAgentScan(api.url, tokenFile, shareRoot);
    const scan = await getScan(services.pool, tenant, scanGuid);
    step(`scan ${scanGuid} is ${scan.status}: ${formatCount(scan.fileCount ?? 0)} files in ${formatCount(scan.dirCount ?? 0)} folders that hold files (the agent also counts empty folders)`);
    if (scan.status !== 'OK') return 1;

    const summary = await planColdFiles(services.pool, tenant, { olderThanSeconds: options.olderThanSeconds, plannedBy: 'demo', share: 'demo', apply: true });
    console.log('');
    console.log(formatPlanSummary(summary));
    console.log('');
    console.log('Age by last access (latest scan of share "demo"):');
    const buckets = await ageHistogram(services.pool, tenant, 'demo');
    console.log(formatTable(['last access', 'files', 'bytes'], buckets.map((b) => [b.label, formatCount(b.files), formatBytes(b.bytes)])));

    await rm(tier2Root, { recursive: true, force: true });
    await mkdir(tier2Root, { recursive: true });
    await setTarget(services, tenant, 'demo', { kind: 'fs', root: tier2Root }, 'demo');
    step(`tiering the plan to ${printable(tier2Root)} with strata-agent act`);
    await runAgent(['act', '--server', api.url, '--token-file', tokenFile, '--share', 'demo']);
    console.log('');
    console.log(await movedReport(services, tenant, shareRoot, tier2Root));

    console.log('');
    console.log(await demoSanitizerReport(services, tenant, 'demo', options.olderThanSeconds));
    console.log(`\nThe stubs stay in ${printable(shareRoot)} until the next demo run rebuilds the share.`);
    return 0;
  } finally {
    await api.close();
    await boss.stop({ graceful: true, timeout: 10_000 });
  }
}

/** Summarise what tiering did: files and bytes per state, and a few stubs with their Tier-2 keys. */
async function movedReport(services: Services, tenant: TenantRef, shareRoot: string, tier2Root: string): Promise<string> {
  return withTenant(services.pool, tenant, Roles.planner, async (client) => {
    const states = await client.query<{ state: string; files: string; bytes: string }>(
      `SELECT state, count(*) AS files, coalesce(sum(size_bytes), 0) AS bytes
         FROM tier_object WHERE share_name = 'demo' GROUP BY state ORDER BY state`,
    );
    const examples = await client.query<{ full_path: string; tier2_key: string; size_bytes: string }>(
      `SELECT full_path, tier2_key, size_bytes FROM tier_object
        WHERE share_name = 'demo' AND state = 'STUBBED' ORDER BY size_bytes DESC, full_path LIMIT 5`,
    );

    const lines = ['What moved to Tier-2 (share "demo"):'];
    lines.push(formatTable(['state', 'files', 'bytes'], states.rows.map((row) => [row.state, formatCount(Number(row.files)), formatBytes(Number(row.bytes))])));
    if (examples.rows.length > 0) {
      lines.push('', `Largest files moved (each is now a small stub in ${printable(shareRoot)}; its content is in ${printable(tier2Root)}):`);
      lines.push(formatTable(['file', 'bytes', 'Tier-2 key'], examples.rows.map((row) => [printable(path.relative(shareRoot, row.full_path)), formatBytes(Number(row.size_bytes)), printable(row.tier2_key)])));
    }
    return lines.join('\n');
  });
}

/** Create the demo tenant afresh, deleting the one an earlier run left, so every run starts clean. */
async function demoTenant(services: Services) {
  const existing = await findTenantByCode(services.pool, DEMO_TENANT);
  if (existing) {
    await deleteTenant(services, existing, 'demo');
    step(`deleted the demo tenant of an earlier run`);
  }

  const created = await provisionTenant(services, { code: DEMO_TENANT, name: 'Demo tenant' });
  step(`created tenant ${DEMO_TENANT} (schema ${created.schemaName})`);
  return { token: created.agentToken, tenant: created };
}

/** Run `strata-agent scan --wait` of the demo share and return the scan GUID it reports. */
async function runAgentScan(serverUrl: string, tokenFile: string, root: string): Promise<string> {
  const output = await runAgent(['scan', '--server', serverUrl, '--token-file', tokenFile, '--share', 'demo', '--root', root, '--wait']);
  const guid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(output)?.[0];
  if (!guid) throw new Error('strata-agent scan reported no scan GUID; see its output above');
  return guid;
}

/** Run strata-agent as its own process, echo its output, and return its standard output. */
async function runAgent(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });

  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    output += text;
    process.stdout.write(text);
  });

  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`strata-agent ${args[0]} exited with status ${code}; see its output above`);
  return output;
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
