import Router from '@koa/router';
import type pg from 'pg';
import type { IngestLimits } from '../../config.ts';
import type { Principal } from '../../control/authenticate.ts';
import { StrataError } from '../../errors.ts';
import { CSV_MEDIA_TYPE, PARQUET_MEDIA_TYPE } from '../../wire/contract.ts';
import type { ChunkFormat } from '../../ingest/chunkSource.ts';
import type { IngestQueue } from '../../ingest/ingestJobs.ts';
import { receiveChunk, type ChunkTimings } from '../../ingest/receiveChunk.ts';
import { completeScan, getScan, openScan } from '../../ingest/scans.ts';
import { requireScope } from '../authenticateRequest.ts';
import { readJsonBody } from '../jsonBody.ts';
import type { ApiMetrics } from '../metrics.ts';
import { assertValid, validateCompleteScan, validateOpenScan, validateScanParams } from '../schemas.ts';

export interface ScanRouteDeps {
  pool: pg.Pool;
  queue: IngestQueue;
  limits: IngestLimits;
  metrics: ApiMetrics;
  /** Chunk uploads streamed at once by this process; see STRATA_MAX_CONCURRENT_CHUNKS. */
  maxConcurrentChunks: number;
}

const CSV_TYPES = [CSV_MEDIA_TYPE, 'application/csv'];

/** Build the ingest routes: open a scan, stream its chunks, complete it, read its status. */
export function scanRoutes(deps: ScanRouteDeps): Router {
  const router = new Router({ prefix: '/v1/scans' });
  const upload = requireScope(deps.pool, 'upload');

  // Each chunk upload uses a database connection while it streams. Capping uploads
  // keeps connections free for other tenants' calls when clients stall or crowd in.
  let chunksInFlight = 0;

  router.post('/', upload, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const request = assertValid(validateOpenScan, await readJsonBody(ctx), 'scan');

    const { view, created } = await openScan(deps.pool, principal.tenant, principal.tokenName, request, deps.limits);
    ctx.status = created ? 201 : 200;
    ctx.body = view;
  });

  router.get('/:scanGuid', upload, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const params = assertValid(validateScanParams, ctx.params, 'path');
    ctx.body = await getScan(deps.pool, principal.tenant, params.scanGuid);
  });

  router.put('/:scanGuid/chunks/:seq', upload, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const params = assertValid(validateScanParams, ctx.params, 'path');
    const seq = Number(params.seq);

    const format = checkChunkHeaders(ctx.get('content-type'), ctx.get('content-encoding'), ctx.get('content-length'), deps.limits);
    ctx.state.log = ctx.state.log.child({ scanGuid: params.scanGuid, seq });
    if (chunksInFlight >= deps.maxConcurrentChunks) {
      throw new StrataError('SERVER_BUSY', `${chunksInFlight} chunk uploads are in progress on this server; retry shortly`, 503, {
        retryAfterSeconds: 5,
      });
    }

    const started = process.hrtime.bigint();
    const timings: Partial<ChunkTimings> = {};
    chunksInFlight++;
    const receipt = await receiveChunk(
      deps.pool,
      deps.limits,
      principal.tenant,
      {
        scanGuid: params.scanGuid,
        seq,
        body: ctx.req,
        format,
        gzip: ctx.get('content-encoding').toLowerCase() === 'gzip',
      },
      timings as ChunkTimings,
    ).finally(() => chunksInFlight--);

    deps.metrics.chunkSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (!receipt.replayed) deps.metrics.rowsReceived.inc(receipt.rows);
    ctx.state.log.info({ rows: receipt.rows, replayed: receipt.replayed, ...timings }, 'chunk received');
    ctx.body = receipt;
  });

  router.post('/:scanGuid/complete', upload, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const params = assertValid(validateScanParams, ctx.params, 'path');
    const request = assertValid(validateCompleteScan, await readJsonBody(ctx), 'completion');
    ctx.body = await completeScan(deps.pool, deps.queue, principal.tenant, principal.tokenName, params.scanGuid, request);
  });

  return router;
}

/** Reject a chunk before reading it when its declared type, encoding or size is wrong; return its format. */
function checkChunkHeaders(contentType: string, encoding: string, length: string, limits: IngestLimits): ChunkFormat {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (!CSV_TYPES.includes(type) && type !== PARQUET_MEDIA_TYPE) {
    throw new StrataError(
      'UNSUPPORTED_MEDIA_TYPE',
      `chunk Content-Type must be ${CSV_MEDIA_TYPE} or ${PARQUET_MEDIA_TYPE}, got "${type || 'none'}"`,
      415,
    );
  }
  const charset = /;\s*charset=([^;\s]+)/i.exec(contentType)?.[1]?.replace(/"/g, '').toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new StrataError('UNSUPPORTED_MEDIA_TYPE', `chunks must be UTF-8, got charset=${charset}`, 415);
  }
  if (encoding !== '' && !['gzip', 'identity'].includes(encoding.toLowerCase())) {
    throw new StrataError('UNSUPPORTED_MEDIA_TYPE', `chunk Content-Encoding must be gzip or absent, got "${encoding}"`, 415);
  }
  if (length !== '' && Number(length) > limits.maxChunkBytes) {
    throw StrataError.tooLarge('STRATA_MAX_CHUNK_BYTES', `chunk body of ${length} bytes exceeds ${limits.maxChunkBytes} bytes (STRATA_MAX_CHUNK_BYTES)`);
  }
  return type === PARQUET_MEDIA_TYPE ? 'parquet' : 'csv';
}
