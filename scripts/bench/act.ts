/**
 * Act benchmark. N small and medium files (1 KiB to 4 MiB, skewed toward small ones,
 * seeded) are scanned and planned. They are then tiered to a local-folder Tier-2 through
 * the real API and the real agent process: claim, copy, verify, stub, report. The
 * baseline is `cp -a` of a copy of the same tree, made before acting, to another folder
 * on the same disk. Each timed step starts after `sync`, so neither pays for the
 * write-back of what was written before it, and with the tree it reads dropped from the
 * page cache (or read into it, with --cache warm), so both start alike. Last line:
 *   act_files_per_s=<n> cp_files_per_s=<n> ratio=<x>
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { pino } from 'pino';

import { runScan } from '../../agent/runScan.ts';
import { setTarget } from '../../src/acting/targets.ts';
import { startApiServer } from '../../src/api/server.ts';
import { loadConfig, requireDatabaseUrl } from '../../src/config.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { PgBossIngestQueue } from '../../src/jobs/pgBossIngestQueue.ts';
import { registerWorkers } from '../../src/jobs/workers.ts';
import { createLogger } from '../../src/log.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { openServices } from '../../src/services.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { writeActTree } from './actTree.ts';
import { CACHE_STATES, preparePageCache, type CacheState } from './pageCache.ts';

const run = promisify(execFile);
const AGENT_BIN = fileURLToPath(new URL('../../agent/strata-agent.mjs', import.meta.url));
const YEAR_SECONDS = 365 * 86_400;

const usage = `Usage: npm run bench:act -- [--files N] [--concurrency N] [--seed N] [--cache cold|warm] [--keep]

Uses the database in DATABASE_URL. Creates a tenant named bench_<random>, which is
dropped afterwards unless --keep is given, and a work folder under the OS temp folder.

Options:
  --files N         files in the tree (default 10000)
  --concurrency N   the agent's --concurrency (default: the agent's default)
  --seed N          seed of the sizes and contents (default 1)
  --cache STATE     page cache state of the tree each timed step reads: cold (dropped
                    with GNU dd, the default, as for files cold enough to tier) or warm
                    (read just before)
  --keep            keep the bench tenant and the work folder

Last line: act_files_per_s=<n> cp_files_per_s=<n> ratio=<x>.`;

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '10000' },
    concurrency: { type: 'string' },
    seed: { type: 'string', default: '1' },
    cache: { type: 'string', default: 'cold' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const files = Number(values.files);
const seed = Number(values.seed);
for (const [name, value] of [['files', files], ['seed', seed]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer\n\n${usage}`);
    process.exit(2);
  }
}

if (!CACHE_STATES.includes(values.cache as CacheState)) {
  console.error(`--cache must be one of ${CACHE_STATES.join(', ')}, not ${JSON.stringify(values.cache)}\n\n${usage}`);
  process.exit(2);
}
const cache = values.cache as CacheState;

const config = loadConfig();
const databaseUrl = requireDatabaseUrl(config);
const log = createLogger(process.env.STRATA_LOG_LEVEL ?? 'warn', { fd: 2 });
const work = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-act-'));
const services = await openServices({ ...config, keyringDir: path.join(work, 'keyring') }, log, databaseUrl);
const code = `bench_${randomUUID().slice(0, 8)}`;
const share = 'bench';

try {
  const tree = path.join(work, 'tree');
  const pristine = path.join(work, 'pristine');
  const tier2 = path.join(work, 'tier2');
  const cpTarget = path.join(work, 'cp-copy');
  await mkdir(tier2);

  console.error(`generating ${files.toLocaleString('en-US')} files in ${pristine}`);
  const twoYearsAgo = Math.floor(Date.now() / 1000) - 2 * YEAR_SECONDS;
  const generated = await writeActTree(pristine, files, seed, twoYearsAgo);

  // The tree to tier is the copy: cp -a gives it the old times of the original, while
  // reading the original updates the original's access times, which would keep its
  // files from being planned. The original stays untouched for the baseline copy.
  console.error(`generated ${(generated.bytes / 2 ** 20).toFixed(0)} MiB; copying it to ${tree}`);
  await run('cp', ['-a', pristine, tree]);

  await migrateControl(services.pool, services.orm);
  const tenant = await provisionTenant(services, { code, name: 'Act benchmark' });
  await setTarget(services, tenant, share, { kind: 'fs', root: tier2 }, 'bench');
  const boss = await startBoss(databaseUrl, log, { listen: true });
  const queue = new PgBossIngestQueue(boss);
  await registerWorkers({ boss, pool: services.pool, log, finalizeConcurrency: config.finalizeConcurrency, keepScans: config.scanRetention, finalizeMemoryMb: config.finalizeMemoryMb, pollingIntervalSeconds: 0.5 });
  const api = await startApiServer({ pool: services.pool, queue, limits: config.ingest, log, acting: config.acting, deks: services.deks }, '127.0.0.1', 0);

  try {
    const agentLogger = pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true }));
    const scan = await runScan({ serverUrl: api.url, token: tenant.agentToken, shareName: share, rootPath: tree, spoolRoot: path.join(work, 'spool'), wait: true, logger: agentLogger });
    const plan = await planColdFiles(services.pool, tenant, { share, olderThanSeconds: YEAR_SECONDS, plannedBy: 'bench', apply: true });
    console.error(`scanned ${scan.files} files; plan: ${JSON.stringify(plan).slice(0, 200)}`);

    const tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, tenant.agentToken, { mode: 0o600 });
    const actArgs = ['act', '--server', api.url, '--token-file', tokenFile, '--share', share, '--quiet'];
    if (values.concurrency !== undefined) {
      actArgs.push('--concurrency', values.concurrency);
    }

    // Generating and copying the tree left gigabytes of dirty pages. Flushing them first
    // keeps their write-back out of the timed act, and the act's out of the timed cp.
    await run('sync');
    await preparePageCache(tree, cache);
    const actStarted = performance.now();
    const summary = await runAgent(actArgs);
    const actSeconds = (performance.now() - actStarted) / 1000;
    const stubbed = Number(/stubbed=(\d+)/.exec(summary)?.[1] ?? '0');
    console.error(summary.trim());
    if (stubbed !== files) {
      throw new Error(`the agent stubbed ${stubbed} of ${files} files; see its output above`);
    }

    await run('sync');
    await preparePageCache(pristine, cache);
    const cpStarted = performance.now();
    await run('cp', ['-a', pristine, cpTarget]);
    const cpSeconds = (performance.now() - cpStarted) / 1000;

    const actRate = files / actSeconds;
    const cpRate = files / cpSeconds;
    const objects = await countFiles(tier2);
    console.log(`cache=${cache} files=${files} mib=${(generated.bytes / 2 ** 20).toFixed(0)} act_s=${actSeconds.toFixed(2)} cp_s=${cpSeconds.toFixed(2)} tier2_objects=${objects}`);
    console.log(`act_files_per_s=${Math.round(actRate)} cp_files_per_s=${Math.round(cpRate)} ratio=${(actRate / cpRate).toFixed(3)}`);
  } finally {
    await api.close();
    await boss.stop({ graceful: true, timeout: 10_000 });
  }
} finally {
  if (!values.keep) {
    await dropTenant(code);
    await rm(work, { recursive: true, force: true });
  } else {
    console.error(`kept tenant ${code} and ${work}`);
  }
  await services.close();
}

/** Runs the agent to its end and returns its stdout; rejects when it exits with another status than 0. */
async function runAgent(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) {
    throw new Error(`strata-agent act exited with ${code}: ${stdout}`);
  }
  return stdout;
}

/** Counts the objects under a filesystem store's root, leaving out the store's own records and temporary files. */
async function countFiles(folder: string): Promise<number> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && !path.relative(folder, path.join(entry.parentPath, entry.name)).split(path.sep).some((segment) => segment.startsWith('.strata~'))).length;
}

async function dropTenant(tenantCode: string): Promise<void> {
  // The code is bench_ and eight hex digits, made above, so the name needs no quoting.
  await services.pool.query(`DROP SCHEMA IF EXISTS t_${tenantCode} CASCADE`);
  await services.pool.query('DELETE FROM control.tenant WHERE code = $1', [tenantCode]);
}
