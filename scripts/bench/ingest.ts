/**
 * Ingest benchmark: N synthetic rows uploaded through the real API in agent-format
 * chunks (gzip CSV) and normalised by the real workers, timed from the first upload
 * until the scan is OK; then a plain COPY of the same CSV into an unindexed table in
 * the same database, as the baseline. Last line:
 *   ingest_rows_per_s=<n> copy_rows_per_s=<n> ratio=<x>
 */
import { createReadStream, createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { from as copyFrom } from 'pg-copy-streams';
import { startApiServer } from '../../src/api/server.ts';
import { loadConfig, requireDatabaseUrl } from '../../src/config.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { PgBossIngestQueue } from '../../src/jobs/pgBossIngestQueue.ts';
import { registerWorkers } from '../../src/jobs/workers.ts';
import { createLogger } from '../../src/log.ts';
import { openServices } from '../../src/services.ts';
import { migrateControl } from '../../src/tenancy/migrateControl.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { HEADER_LINE, writeChunks, writeParquetChunks } from './chunkFiles.ts';
import { csvLine, syntheticRows, type SyntheticRow } from './syntheticTree.ts';
import { PARQUET_MEDIA_TYPE } from '../../src/wire/contract.ts';

const usage = `Usage: npm run bench:ingest -- [--rows N] [--rescan] [--chunk-rows N] [--uploads N] [--format csv|parquet] [--keep]

Uses the database in DATABASE_URL. Creates a tenant named bench_<random>, which is
dropped afterwards unless --keep is given.

Options:
  --rows N          synthetic rows (default 1000000)
  --chunk-rows N    rows per chunk, as the agent's --chunk-rows (default 250000)
  --uploads N       chunks uploaded at once, as the agent's --concurrency (default 2)
  --format F        chunk format: csv (gzip, as the agent sends) or parquet (default csv)
  --rescan          then scan the same share again with 95% of rows unchanged (5% read
                    since), timed the same way
  --keep            keep the bench tenant and its data

Last line: ingest_rows_per_s=<n> copy_rows_per_s=<n> ratio=<x>, followed by
rescan_rows_per_s=<n> rescan_ratio=<x> with --rescan. Ratios are to the plain COPY.`;

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'chunk-rows': { type: 'string', default: '250000' },
    uploads: { type: 'string', default: '2' },
    format: { type: 'string', default: 'csv' },
    keep: { type: 'boolean', default: false },
    rescan: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const rows = Number(values.rows);
const chunkRows = Number(values['chunk-rows']);
const uploads = Number(values.uploads);
for (const [name, value] of [['rows', rows], ['chunk-rows', chunkRows], ['uploads', uploads]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer\n\n${usage}`);
    process.exit(2);
  }
}

const format = values.format;
if (format !== 'csv' && format !== 'parquet') {
  console.error(`--format must be csv or parquet\n\n${usage}`);
  process.exit(2);
}

const config = loadConfig();
const databaseUrl = requireDatabaseUrl(config);
const log = createLogger(process.env.STRATA_LOG_LEVEL ?? 'warn', { fd: 2 });
const work = await mkdtemp(path.join(os.tmpdir(), 'strata-bench-'));
const services = await openServices({ ...config, keyringDir: path.join(work, 'keyring') }, log, databaseUrl);
const code = `bench_${randomUUID().slice(0, 8)}`;

try {
  console.error(`generating ${rows.toLocaleString('en-US')} rows in ${work}`);
  const now = Math.floor(Date.now() / 1000);
  const chunks = await writeChunkFiles(syntheticRows(rows, { now }), path.join(work, 'first'));
  const rescanChunks = values.rescan
    ? await writeChunkFiles(syntheticRows(rows, { now, changedShare: 0.05, scanSeed: 11 }), path.join(work, 'rescan'))
    : [];
  const plainCsv = path.join(work, 'all.csv');
  await pipeline(
    (function* () {
      yield HEADER_LINE;
      for (const row of syntheticRows(rows, { now })) yield csvLine(row);
    })(),
    createWriteStream(plainCsv),
  );

  await migrateControl(services.pool, services.orm);
  const tenant = await provisionTenant(services, { code, name: 'Ingest benchmark' });
  const boss = await startBoss(databaseUrl, log, { listen: true });
  const queue = new PgBossIngestQueue(boss);
  await registerWorkers({ boss, pool: services.pool, log, finalizeConcurrency: config.finalizeConcurrency, keepScans: config.scanRetention, finalizeMemoryMb: config.finalizeMemoryMb, pollingIntervalSeconds: 0.5 });
  const api = await startApiServer({ pool: services.pool, queue, limits: config.ingest, log }, '127.0.0.1', 0);

  const ingestSeconds = await timeIngest(api.url, tenant.agentToken, chunks, rows);
  const rescanSeconds = values.rescan ? await timeIngest(api.url, tenant.agentToken, rescanChunks, rows) : undefined;
  await api.close();
  await boss.stop({ graceful: true, timeout: 10_000 });

  const copySeconds = await timeCopy(plainCsv);
  const ingestRate = Math.round(rows / ingestSeconds);
  const copyRate = Math.round(rows / copySeconds);

  const rescanFigures =
    rescanSeconds === undefined
      ? ''
      : ` rescan_rows_per_s=${Math.round(rows / rescanSeconds)} rescan_ratio=${(rows / rescanSeconds / copyRate).toFixed(3)}`;
  const rescanTime = rescanSeconds === undefined ? '' : ` rescan_s=${rescanSeconds.toFixed(2)}`;
  console.log(`format=${format} rows=${rows} chunks=${chunks.length} ingest_s=${ingestSeconds.toFixed(2)}${rescanTime} copy_s=${copySeconds.toFixed(2)}`);
  console.log(`ingest_rows_per_s=${ingestRate} copy_rows_per_s=${copyRate} ratio=${(ingestRate / copyRate).toFixed(3)}${rescanFigures}`);
} finally {
  if (!values.keep) await dropTenant(code);
  await services.close();
  await rm(work, { recursive: true, force: true });
}

/** Write rows as chunk files of the chosen format into `folder`; return their paths. */
async function writeChunkFiles(rowSource: Iterable<SyntheticRow>, folder: string): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  return format === 'parquet' ? writeParquetChunks(rowSource, folder, chunkRows) : writeChunks(rowSource, folder, chunkRows);
}

/** Upload every chunk through the API (a few at a time), complete, and wait for OK. */
async function timeIngest(baseUrl: string, token: string, chunks: string[], rowCount: number): Promise<number> {
  const headers = { authorization: `Bearer ${token}` };
  const scanGuid = randomUUID();
  await request(`${baseUrl}/v1/scans`, 'POST', headers, JSON.stringify({
    scanGuid, shareName: 'bench', sourceType: 'NTFS', rootPath: 'D:\\Shares', pathStyle: 'windows', startedAt: Math.floor(Date.now() / 1000),
  }), 'application/json');

  const started = performance.now();
  let next = 0;
  const uploader = async () => {
    while (next < chunks.length) {
      const seq = next++;
      const body = await openAsBlob(chunks[seq]!);
      const chunkHeaders = format === 'csv' ? { ...headers, 'content-encoding': 'gzip' } : headers;
      await request(`${baseUrl}/v1/scans/${scanGuid}/chunks/${seq}`, 'PUT', chunkHeaders, body, format === 'csv' ? 'text/csv' : PARQUET_MEDIA_TYPE);
      console.error(`  chunk ${seq + 1}/${chunks.length} received after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(uploads, chunks.length) }, uploader));
  await request(`${baseUrl}/v1/scans/${scanGuid}/complete`, 'POST', headers, JSON.stringify({ chunkCount: chunks.length, rowCount, unreadableCount: 0 }), 'application/json');

  for (;;) {
    const scan = JSON.parse(await request(`${baseUrl}/v1/scans/${scanGuid}`, 'GET', headers));
    if (scan.status === 'OK') break;
    if (scan.status === 'FAILED') throw new Error(`bench scan failed: ${JSON.stringify(scan)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  console.error(`  scan OK after ${seconds.toFixed(1)} s`);
  return seconds;
}

/** COPY the plain CSV into a fresh unindexed table, the baseline for the ratio. */
async function timeCopy(csvFile: string): Promise<number> {
  const client = await services.pool.connect();
  const table = `bench_copy_${code}`;
  try {
    await client.query(`CREATE TABLE public.${table} (dir_path text, name text, size_bytes bigint, atime_unix bigint, mtime_unix bigint, ctime_unix bigint)`);
    const started = performance.now();
    await pipeline(createReadStream(csvFile), client.query(copyFrom(`COPY public.${table} FROM STDIN (FORMAT csv, HEADER true)`)));
    const seconds = (performance.now() - started) / 1000;
    console.error(`  plain COPY took ${seconds.toFixed(1)} s`);
    return seconds;
  } finally {
    await client.query(`DROP TABLE IF EXISTS public.${table}`);
    client.release();
  }
}

async function request(url: string, method: string, headers: Record<string, string>, body?: RequestInit['body'], type?: string): Promise<string> {
  const response = await fetch(url, { method, headers: type ? { ...headers, 'content-type': type } : headers, body });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} failed with status ${response.status}: ${text}`);
  return text;
}

async function dropTenant(tenantCode: string): Promise<void> {
  await services.pool.query(`DROP SCHEMA IF EXISTS ${`t_${tenantCode}`} CASCADE`);
  await services.pool.query('DELETE FROM control.tenant WHERE code = $1', [tenantCode]);
}
