/**
 * Concurrent-agent benchmark: several agents, each of its own tenant, upload gzip CSV
 * chunks at once to one `strata api` process, then to two, with one `strata worker`
 * normalising. Each configuration is timed from the first upload until every scan is OK.
 * Last line on stdout:
 *   agents=<n> rows=<n> one_api_rows_per_s=<n> one_api_p50_ms=<n> one_api_p99_ms=<n>
 *   two_api_rows_per_s=<n> two_api_p50_ms=<n> two_api_p99_ms=<n> errors=<n>
 */
import { openAsBlob } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { PgBoss } from 'pg-boss';
import { DEFAULT_RETRY_POLICY, backoffDelayMs, parseRetryAfterMs } from '../../agent/retry.ts';
import { DEFAULT_CONCURRENCY, DEFAULT_REQUEST_TIMEOUT_MS } from '../../agent/scanOptions.ts';
import { loadConfig } from '../../src/config.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { QueueNames } from '../../src/jobs/queues.ts';
import { createLogger } from '../../src/log.ts';
import { openServices, type Services } from '../../src/services.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { migrateTenants } from '../../src/tenancy/migrateTenants.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import {
  CHUNK_IN_FLIGHT,
  CSV_MEDIA_TYPE,
  RETRYABLE_STATUSES,
  type CompleteScanRequest,
  type ErrorBody,
  type OpenScanRequest,
  type ScanView,
} from '../../src/wire/contract.ts';
import { startApi, startWorker, stopProcess, type StrataProcess } from './apiProcess.ts';
import { writeChunks } from './chunkFiles.ts';
import { syntheticRows } from './syntheticTree.ts';

const usage = `Usage: npx tsx scripts/bench/concurrentAgents.ts [--agents N] [--rows-per-agent N]
         [--chunk-rows N] [--api-processes 1|2|both] [--keep]

Provisions one tenant per agent in the database in DATABASE_URL (required), then for
each configuration starts the API process(es) and one worker as child processes on
127.0.0.1, runs every agent at once, and stops the children again. Agents are spread
round-robin over the API processes. Each agent uploads its chunks ${DEFAULT_CONCURRENCY} at a time
and retries 503 and 409 ${CHUNK_IN_FLIGHT} after Retry-After, as strata-agent does.

Use a database of its own: the benchmark first applies pending control and tenant
migrations, as \`strata migrate\` does. The child processes inherit the environment, so
STRATA_MAX_CONCURRENT_CHUNKS, STRATA_FINALIZE_CONCURRENCY and STRATA_DB_POOL_MAX apply.

Options:
  --agents N           agents uploading at once, one tenant each (default 8)
  --rows-per-agent N   synthetic rows each agent uploads per configuration (default 250000)
  --chunk-rows N       rows per chunk, as the agent's --chunk-rows (default 50000)
  --api-processes P    1, 2 or both (default both: 1 first, then 2)
  --keep               keep the benchmark tenants and their data
  -h, --help           print this help

Output: one line per configuration on stderr, then as the last line on stdout
  agents=<n> rows=<rows per configuration> one_api_rows_per_s=<n> one_api_p50_ms=<n>
  one_api_p99_ms=<n> two_api_rows_per_s=<n> two_api_p50_ms=<n> two_api_p99_ms=<n> errors=<n>
with only the one_api_ or two_api_ keys when --api-processes is 1 or 2. rows_per_s is
rows per configuration divided by the seconds from the first chunk upload until every
scan is OK. The p50 and p99 (nearest rank) are over accepted chunk PUTs, each measured
from the start of its accepted attempt to its response, so retry waits are left out
(they appear on the stderr line). With 100 PUTs or fewer, p99 is the slowest PUT.
The second configuration's scans use a new share in the same tenants, whose tables
then already hold the first configuration's rows.

Exit status: 0 when every configuration finished; 1 when a request failed for good, a
scan failed or a child process exited. The run then stops at that configuration, the
last line has errors>0 and carries only the configurations that finished.`;

/** The agent polls every 2 s. Polling faster makes the time until OK more exact. */
const POLL_INTERVAL_MS = 200;

/** A scan whose counters stay unchanged this long is reported as stalled. */
const SCAN_STALL_MS = 300_000;

interface Options {
  agents: number;
  rowsPerAgent: number;
  chunkRows: number;
  /** API process counts to measure, in order. */
  apiProcessCounts: number[];
  keep: boolean;
}

interface BenchAgent {
  index: number;
  tenantId: string;
  tenantCode: string;
  token: string;
}

/** Chunk files on disk. Every agent uploads the same files into its own tenant. */
interface ChunkSet {
  files: string[];
  rowsPerAgent: number;
}

/** Retries by cause, such as "503" or "409 CHUNK_IN_FLIGHT" or "network". */
type RetryCounts = Map<string, number>;

interface AgentResult {
  /** Latency of each accepted PUT attempt, start to response, in milliseconds. */
  acceptedLatenciesMs: number[];
  /** Time of each chunk from its first attempt to its accepted response, retry waits included. */
  chunkTotalsMs: number[];
  retries: RetryCounts;
  /** Time at which this agent's last chunk was accepted, on the performance.now() clock. */
  uploadsDoneAt: number;
  /** Time at which every chunk of this agent's scan was seen normalised, on the performance.now() clock. */
  normalizedAt: number;
  /** Time at which this agent's scan was seen OK, on the performance.now() clock. */
  okAt: number;
}

interface ConfigurationResult {
  apiProcesses: number;
  rows: number;
  seconds: number;
  /** Seconds from the first upload until the last chunk of any agent was accepted. */
  uploadSeconds: number;
  /** Seconds from the first upload until every chunk of every scan was seen normalised. */
  normalizeSeconds: number;
  acceptedLatenciesMs: number[];
  chunkTotalsMs: number[];
  retries: RetryCounts;
}

/** A request that did not succeed and may not be retried, or ran out of attempts. */
class BenchRequestError extends Error {
  override name = 'BenchRequestError';
}

const options = parseOptions();
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error(`DATABASE_URL is not set; set it to the postgresql:// URL of a database for the benchmark\n\n${usage}`);
  process.exit(2);
}

// Ctrl-C or SIGTERM ends the current configuration through the same path as a failed
// request, so the child processes are stopped and the tenants dropped. A second
// signal ends the process at once, because the handlers are registered only once.
const interrupt = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => interrupt.abort(new Error(`interrupted by ${signal}`)));
}

process.exitCode = await main(options, databaseUrl);

async function main(opts: Options, dbUrl: string): Promise<number> {
  const config = loadConfig();
  const log = createLogger('warn', { fd: 2 });
  const work = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-agents-'));
  const services = await openServices({ ...config, keyringDir: path.join(work, 'keyring') }, log, dbUrl);
  const agents: BenchAgent[] = [];
  const results: ConfigurationResult[] = [];
  const errors: Error[] = [];
  let boss: PgBoss | undefined;

  try {
    await migrate(services);
    // This instance only reads and deletes jobs, while the worker child process handles them.
    boss = await startBoss(dbUrl, log, { max: 2 });
    await provisionAgents(services, opts.agents, agents);
    interrupt.signal.throwIfAborted();
    const chunks = await generateChunks(work, opts);
    interrupt.signal.throwIfAborted();

    for (const apiProcesses of opts.apiProcessCounts) {
      interrupt.signal.throwIfAborted();
      const outcome = await runConfiguration(apiProcesses, agents, chunks, dbUrl);
      if (outcome.errors.length > 0) {
        errors.push(...outcome.errors);
        break;
      }
      results.push(outcome.result);
      console.error(describeResult(outcome.result, opts.agents));
      await deleteQueuedJobs(boss, agents);
    }
  } catch (error) {
    errors.push(error instanceof Error ? error : new Error(String(error)));
  } finally {
    if (!opts.keep) await dropTenants(services, boss, agents);
    await boss?.stop({ graceful: true, timeout: 10_000 });
    await services.close();
    await rm(work, { recursive: true, force: true });
  }

  for (const error of errors) console.error(`benchmark failed: ${error.message}`);
  console.log(summaryLine(opts.agents, opts.agents * opts.rowsPerAgent, results, errors.length));
  return errors.length === 0 ? 0 : 1;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '8' },
      'rows-per-agent': { type: 'string', default: '250000' },
      'chunk-rows': { type: 'string', default: '50000' },
      'api-processes': { type: 'string', default: 'both' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }

  const counts: Record<string, number[]> = { '1': [1], '2': [2], both: [1, 2] };
  const apiProcessCounts = counts[values['api-processes']];
  if (!apiProcessCounts) fail(`--api-processes must be 1, 2 or both, got "${values['api-processes']}"`);

  return {
    agents: positiveInteger(values.agents, 'agents'),
    rowsPerAgent: positiveInteger(values['rows-per-agent'], 'rows-per-agent'),
    chunkRows: positiveInteger(values['chunk-rows'], 'chunk-rows'),
    apiProcessCounts,
    keep: values.keep,
  };
}

function positiveInteger(raw: string, name: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) fail(`--${name} must be a positive integer, got "${raw}"`);
  return value;
}

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** Apply pending control and tenant migrations, as `strata migrate` does. */
async function migrate(services: Services): Promise<void> {
  await migrateControl(services.pool, services.orm);
  const report = await migrateTenants(services.pool, services.orm, services.log, { concurrency: services.config.migrateConcurrency });
  if (report.failed > 0) {
    throw new Error(`${report.failed} tenant schema(s) failed to migrate (run ${report.runId}); run \`strata migrate\` to see why`);
  }
}

/**
 * Provision one tenant per agent, as agents of different customers would be. Each
 * tenant is appended to `agents` as soon as it exists, so a failure part-way still
 * drops the ones made.
 */
async function provisionAgents(services: Services, count: number, agents: BenchAgent[]): Promise<void> {
  const runId = randomUUID().slice(0, 8);
  for (let index = 0; index < count; index++) {
    const tenantCode = `bench_${runId}_${index}`;
    const tenant = await provisionTenant(services, { code: tenantCode, name: `Concurrent agents benchmark, agent ${index}` });
    agents.push({ index, tenantId: tenant.id, tenantCode, token: tenant.agentToken });
  }
  console.error(`provisioned ${count} tenants bench_${runId}_0 to bench_${runId}_${count - 1}`);
}

/**
 * Write one agent's chunks once. Every agent uploads the same synthetic tree, but into
 * its own tenant schema, so no rows or index entries are shared between agents.
 */
async function generateChunks(work: string, opts: Options): Promise<ChunkSet> {
  const folder = path.join(work, 'chunks');
  await mkdir(folder);
  const now = Math.floor(Date.now() / 1000);
  const files = await writeChunks(syntheticRows(opts.rowsPerAgent, { now }), folder, opts.chunkRows);
  console.error(`generated ${files.length} chunks of up to ${opts.chunkRows.toLocaleString('en-US')} rows per agent in ${folder}`);
  return { files, rowsPerAgent: opts.rowsPerAgent };
}

/**
 * Start the children, run every agent at once and stop the children again. Any error
 * aborts the other agents, and the children are stopped whatever happened.
 */
async function runConfiguration(
  apiProcesses: number,
  agents: BenchAgent[],
  chunks: ChunkSet,
  dbUrl: string,
): Promise<{ result: ConfigurationResult; errors: Error[] }> {
  // The benchmark runs on the superuser login of DATABASE_URL, which strata api and
  // strata worker accept only with the development override.
  const env = { DATABASE_URL: dbUrl, STRATA_ALLOW_SUPERUSER: '1' };
  const children: StrataProcess[] = [];
  const abort = new AbortController();
  const errors: Error[] = [];
  const failRun = (error: unknown): void => {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (!isCausedByAbort(failure, abort.signal)) errors.push(failure);
    if (!abort.signal.aborted) abort.abort(failure);
  };
  interrupt.signal.addEventListener('abort', () => failRun(interrupt.signal.reason), { once: true });

  try {
    children.push(await startWorker('worker', env));
    for (let i = 1; i <= apiProcesses; i++) children.push(await startApi(`api ${i}`, env));
    for (const child of children) child.crashed.catch(failRun);
    console.error(`${apiProcesses} API process(es) and 1 worker ready; pids ${children.map((child) => child.child.pid).join(', ')}`);

    const apiUrls = children.slice(1).map((child) => child.url!);
    const shareName = `bench-${apiProcesses}-api-${randomUUID().slice(0, 8)}`;
    const result = await runAgents(agents, apiUrls, chunks, shareName, abort.signal, failRun);
    return { result: { ...result, apiProcesses }, errors };
  } catch (error) {
    failRun(error);
    return { result: emptyResult(apiProcesses), errors };
  } finally {
    await Promise.all(children.map((child) => stopProcess(child)));
  }
}

/** Open every scan, then upload, complete and wait for OK in all agents at once. */
async function runAgents(
  agents: BenchAgent[],
  apiUrls: string[],
  chunks: ChunkSet,
  shareName: string,
  signal: AbortSignal,
  failRun: (error: unknown) => void,
): Promise<Omit<ConfigurationResult, 'apiProcesses'>> {
  const urlOf = (agent: BenchAgent): string => apiUrls[agent.index % apiUrls.length]!;

  // Scans are opened before the clock starts, as the agent opens its scan before it
  // has a chunk to send.
  const scanGuids = await Promise.all(agents.map((agent) => openScan(urlOf(agent), agent, shareName, signal)));

  const started = performance.now();
  const outcomes = await Promise.all(
    agents.map((agent, i) =>
      runAgent(urlOf(agent), agent, scanGuids[i]!, chunks, signal).catch((error: unknown) => {
        failRun(error);
        return undefined;
      }),
    ),
  );
  signal.throwIfAborted();

  const finished = outcomes.filter((outcome): outcome is AgentResult => outcome !== undefined);
  return {
    rows: agents.length * chunks.rowsPerAgent,
    seconds: (Math.max(...finished.map((outcome) => outcome.okAt)) - started) / 1000,
    uploadSeconds: (Math.max(...finished.map((outcome) => outcome.uploadsDoneAt)) - started) / 1000,
    normalizeSeconds: (Math.max(...finished.map((outcome) => outcome.normalizedAt)) - started) / 1000,
    acceptedLatenciesMs: finished.flatMap((outcome) => outcome.acceptedLatenciesMs),
    chunkTotalsMs: finished.flatMap((outcome) => outcome.chunkTotalsMs),
    retries: mergeRetries(finished.map((outcome) => outcome.retries)),
  };
}

async function openScan(baseUrl: string, agent: BenchAgent, shareName: string, signal: AbortSignal): Promise<string> {
  const request: OpenScanRequest = {
    scanGuid: randomUUID(),
    shareName,
    sourceType: 'NTFS',
    rootPath: 'D:\\Shares',
    pathStyle: 'windows',
    startedAt: Math.floor(Date.now() / 1000),
    agentHost: `bench-agent-${agent.index}`,
  };
  await send(agent, `opening a scan for agent ${agent.index}`, new Map(), signal, async () => ({
    url: `${baseUrl}/v1/scans`,
    init: { method: 'POST', body: JSON.stringify(request), headers: { 'content-type': 'application/json' } },
  }));
  return request.scanGuid;
}

/** Upload one agent's chunks a few at a time, complete its scan and wait until it is OK. */
async function runAgent(baseUrl: string, agent: BenchAgent, scanGuid: string, chunks: ChunkSet, signal: AbortSignal): Promise<AgentResult> {
  const result: AgentResult = { acceptedLatenciesMs: [], chunkTotalsMs: [], retries: new Map(), uploadsDoneAt: 0, normalizedAt: 0, okAt: 0 };
  let next = 0;

  const uploader = async (): Promise<void> => {
    while (next < chunks.files.length && !signal.aborted) {
      const seq = next++;
      const chunkStarted = performance.now();
      const latencyMs = await uploadChunk(baseUrl, agent, scanGuid, seq, chunks.files[seq]!, result.retries, signal);
      result.acceptedLatenciesMs.push(latencyMs);
      result.chunkTotalsMs.push(performance.now() - chunkStarted);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DEFAULT_CONCURRENCY, chunks.files.length) }, uploader));
  signal.throwIfAborted();
  result.uploadsDoneAt = performance.now();

  const complete: CompleteScanRequest = { chunkCount: chunks.files.length, rowCount: chunks.rowsPerAgent, unreadableCount: 0 };
  await send(agent, `completing scan ${scanGuid} of agent ${agent.index}`, result.retries, signal, async () => ({
    url: `${baseUrl}/v1/scans/${scanGuid}/complete`,
    init: { method: 'POST', body: JSON.stringify(complete), headers: { 'content-type': 'application/json' } },
  }));

  await waitForScanOk(baseUrl, agent, scanGuid, chunks.files.length, result, signal);
  return result;
}

/** Upload one chunk, retrying as the agent does, and return the accepted attempt's latency in milliseconds. */
async function uploadChunk(
  baseUrl: string,
  agent: BenchAgent,
  scanGuid: string,
  seq: number,
  file: string,
  retries: RetryCounts,
  signal: AbortSignal,
): Promise<number> {
  const { latencyMs } = await send(agent, `upload of chunk ${seq} of agent ${agent.index}`, retries, signal, async () => ({
    url: `${baseUrl}/v1/scans/${scanGuid}/chunks/${seq}`,
    // A file-backed Blob is read from disk while it is sent, as in the agent. It is
    // opened anew for each attempt because a sent body cannot be sent again.
    init: { method: 'PUT', body: await openAsBlob(file), headers: { 'content-type': CSV_MEDIA_TYPE, 'content-encoding': 'gzip' } },
  }));
  return latencyMs;
}

/**
 * Poll the scan until it is OK, recording in `result` when its chunks were all seen
 * normalised and when it was seen OK. A FAILED scan, or one whose counters stay
 * unchanged for SCAN_STALL_MS, fails the run.
 */
async function waitForScanOk(
  baseUrl: string,
  agent: BenchAgent,
  scanGuid: string,
  chunkCount: number,
  result: AgentResult,
  signal: AbortSignal,
): Promise<void> {
  let lastState = '';
  let lastChange = performance.now();

  for (;;) {
    const { text } = await send(agent, `reading scan ${scanGuid} of agent ${agent.index}`, result.retries, signal, async () => ({
      url: `${baseUrl}/v1/scans/${scanGuid}`,
      init: { method: 'GET' },
    }));
    const scan = JSON.parse(text) as ScanView;
    const now = performance.now();
    if (result.normalizedAt === 0 && (scan.chunksNormalized === chunkCount || scan.status === 'OK')) result.normalizedAt = now;
    if (scan.status === 'OK') {
      result.okAt = now;
      return;
    }
    if (scan.status === 'FAILED') throw new BenchRequestError(`scan ${scanGuid} of agent ${agent.index} FAILED: ${text}`);

    const state = `${scan.status} ${scan.chunksReceived} ${scan.chunksNormalized}`;
    if (state !== lastState) {
      lastState = state;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > SCAN_STALL_MS) {
      throw new BenchRequestError(`scan ${scanGuid} of agent ${agent.index} timed out: no progress for ${SCAN_STALL_MS / 1000} s: ${text}`);
    }
    await sleep(POLL_INTERVAL_MS, undefined, { signal });
  }
}

/**
 * Send a request with the agent's retry rules: network errors, timeouts and the
 * contract's retryable statuses are retried with backoff, 409 CHUNK_IN_FLIGHT too, and
 * a Retry-After header sets the delay. Each retry is counted in `retries` by cause.
 * Returns the body and the latency of the successful attempt.
 */
async function send(
  agent: BenchAgent,
  action: string,
  retries: RetryCounts,
  signal: AbortSignal,
  build: () => Promise<{ url: string; init: RequestInit }>,
): Promise<{ text: string; latencyMs: number }> {
  for (let attempt = 1; ; attempt++) {
    const { url, init } = await build();
    const headers = { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${agent.token}`, accept: 'application/json' };
    const attemptSignal = AbortSignal.any([signal, AbortSignal.timeout(DEFAULT_REQUEST_TIMEOUT_MS)]);

    let cause: string;
    let delayMs: number;
    const started = performance.now();
    try {
      const response = await fetch(url, { ...init, headers, signal: attemptSignal, redirect: 'manual' });
      const text = await response.text();
      const latencyMs = performance.now() - started;
      if (response.ok) return { text, latencyMs };

      const code = errorCodeOf(text);
      if (!RETRYABLE_STATUSES.has(response.status) && !(response.status === 409 && code === CHUNK_IN_FLIGHT)) {
        throw new BenchRequestError(`${action} was rejected with HTTP ${response.status}: ${text.slice(0, 500)}`);
      }
      cause = code === CHUNK_IN_FLIGHT ? `${response.status} ${code}` : String(response.status);
      delayMs = parseRetryAfterMs(response.headers.get('retry-after')) ?? backoffDelayMs(attempt, DEFAULT_RETRY_POLICY);
    } catch (error) {
      if (error instanceof BenchRequestError || signal.aborted) throw error;
      cause = 'network';
      delayMs = backoffDelayMs(attempt, DEFAULT_RETRY_POLICY);
      console.error(`  ${action}: attempt ${attempt} failed: ${describeNetworkError(error)}`);
    }

    if (attempt >= DEFAULT_RETRY_POLICY.maxAttempts) {
      throw new BenchRequestError(`${action} failed after ${attempt} attempts; the last one ended with ${cause}`);
    }
    retries.set(cause, (retries.get(cause) ?? 0) + 1);
    await sleep(delayMs, undefined, { signal });
  }
}

function errorCodeOf(text: string): string | undefined {
  try {
    return (JSON.parse(text) as Partial<ErrorBody> | null)?.error?.code;
  } catch {
    return undefined;
  }
}

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch reports every network failure as "fetch failed" and puts the reason in `cause`.
  const cause = error.cause as NodeJS.ErrnoException | undefined;
  return cause instanceof Error ? `${error.message}: ${cause.message || cause.code}` : `${error.name}: ${error.message}`;
}

/** Tell whether an error only echoes the abort of the run, which the first failure caused. */
function isCausedByAbort(error: Error, signal: AbortSignal): boolean {
  if (!signal.aborted) return false;
  return error === signal.reason || error.name === 'AbortError' || error.cause === signal.reason;
}

function mergeRetries(counts: RetryCounts[]): RetryCounts {
  const merged: RetryCounts = new Map();
  for (const map of counts) {
    for (const [cause, count] of map) merged.set(cause, (merged.get(cause) ?? 0) + count);
  }
  return merged;
}

function emptyResult(apiProcesses: number): ConfigurationResult {
  return { apiProcesses, rows: 0, seconds: 0, uploadSeconds: 0, normalizeSeconds: 0, acceptedLatenciesMs: [], chunkTotalsMs: [], retries: new Map() };
}

/** Nearest-rank percentile of milliseconds, rounded to whole milliseconds. */
function percentile(valuesMs: number[], p: number): number {
  if (valuesMs.length === 0) return 0;
  const sorted = [...valuesMs].sort((a, b) => a - b);
  return Math.round(sorted[Math.ceil((p / 100) * sorted.length) - 1]!);
}

function rowsPerSecond(result: ConfigurationResult): number {
  return Math.round(result.rows / result.seconds);
}

function describeResult(result: ConfigurationResult, agents: number): string {
  const retries = [...result.retries].map(([cause, count]) => `${cause} x${count}`).join(', ') || 'none';
  return (
    `${result.apiProcesses} API process(es), ${agents} agents: ${result.rows.toLocaleString('en-US')} rows in ${result.seconds.toFixed(1)} s ` +
    `= ${rowsPerSecond(result).toLocaleString('en-US')} rows/s; last chunk accepted after ${result.uploadSeconds.toFixed(1)} s, ` +
    `all normalised after ${result.normalizeSeconds.toFixed(1)} s; ` +
    `${result.acceptedLatenciesMs.length} chunk PUTs ` +
    `p50 ${percentile(result.acceptedLatenciesMs, 50)} ms, p99 ${percentile(result.acceptedLatenciesMs, 99)} ms; ` +
    `with retry waits p50 ${percentile(result.chunkTotalsMs, 50)} ms, p99 ${percentile(result.chunkTotalsMs, 99)} ms; retries: ${retries}`
  );
}

function summaryLine(agents: number, rows: number, results: ConfigurationResult[], errors: number): string {
  const prefixes: Record<number, string> = { 1: 'one_api', 2: 'two_api' };
  const parts = [`agents=${agents}`, `rows=${rows}`];
  for (const result of results) {
    const prefix = prefixes[result.apiProcesses]!;
    parts.push(
      `${prefix}_rows_per_s=${rowsPerSecond(result)}`,
      `${prefix}_p50_ms=${percentile(result.acceptedLatenciesMs, 50)}`,
      `${prefix}_p99_ms=${percentile(result.acceptedLatenciesMs, 99)}`,
    );
  }
  parts.push(`errors=${errors}`);
  return parts.join(' ');
}

/**
 * Delete the jobs still queued for the benchmark tenants, so they do not run during the
 * next configuration or, for dropped tenants, in a later run's worker. After every scan
 * is OK these are finalize jobs with nothing left to do. A scan can get several: one from
 * completing it, one from each of its last chunks normalised together, and a delayed
 * one from a finalize run that found chunks still pending.
 */
async function deleteQueuedJobs(boss: PgBoss, agents: BenchAgent[]): Promise<void> {
  const deleted: string[] = [];
  for (const queue of Object.values(QueueNames)) {
    let count = 0;
    for (const agent of agents) {
      const jobs = await boss.findJobs(queue, { data: { tenantId: agent.tenantId }, queued: true });
      if (jobs.length > 0) await boss.deleteJob(queue, jobs.map((job) => job.id));
      count += jobs.length;
    }
    if (count > 0) deleted.push(`${count} ${queue}`);
  }
  if (deleted.length > 0) console.error(`deleted queued jobs of the benchmark tenants: ${deleted.join(', ')}`);
}

/** Drop the benchmark tenants' schemas, registry rows and queued jobs; their tokens go with the rows. */
async function dropTenants(services: Services, boss: PgBoss | undefined, agents: BenchAgent[]): Promise<void> {
  if (boss) await deleteQueuedJobs(boss, agents);
  for (const agent of agents) {
    await services.pool.query(`DROP SCHEMA IF EXISTS ${`t_${agent.tenantCode}`} CASCADE`);
  }
  await services.pool.query('DELETE FROM control.tenant WHERE code = ANY ($1::text[])', [agents.map((agent) => agent.tenantCode)]);
}
