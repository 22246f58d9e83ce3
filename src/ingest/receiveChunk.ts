import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { IngestLimits } from '../config.ts';
import { StrataError } from '../errors.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { CHUNK_IN_FLIGHT, type ChunkReceipt } from '../wire/contract.ts';
import { ByteLimit, Sha256Tap } from './chunkLimits.ts';
import { readChunkHeader } from './chunkHeader.ts';
import { translateBodyError, translateCopyError } from './copyErrors.ts';
import type { IngestQueue } from './ingestJobs.ts';

export interface ChunkUpload {
  scanGuid: string;
  seq: number;
  body: Readable;
  gzip: boolean;
}

interface ScanRow {
  scan_id: number;
  status: string;
}

interface ChunkRow {
  sha256: Buffer;
  row_count: number;
}

/**
 * Receive one chunk exactly once. The body streams through the size limits and a
 * SHA-256 into `COPY … FROM STDIN` of `staging_file`; the chunk's ledger row is written
 * in the same transaction, so either both the rows and the ledger entry commit or
 * neither does. A repeat with the same bytes is answered from the ledger without a
 * COPY; different bytes under the same sequence number are a conflict.
 */
export async function receiveChunk(
  pool: pg.Pool,
  queue: IngestQueue,
  limits: IngestLimits,
  tenant: TenantRef,
  upload: ChunkUpload,
): Promise<ChunkReceipt> {
  const hasher = new Sha256Tap();
  const sent = new ByteLimit(limits.maxChunkBytes, 'STRATA_MAX_CHUNK_BYTES', 'chunk body');
  const expanded = new ByteLimit(limits.maxChunkDecompressedBytes, 'STRATA_MAX_CHUNK_DECOMPRESSED_BYTES', 'decompressed chunk');
  const stages = upload.gzip ? [sent, hasher, createGunzip(), expanded] : [sent, hasher, expanded];

  // Started here, consumed below: the chain reads the request only as fast as COPY
  // (or the hash of a repeated chunk) takes the bytes.
  const decoded = chain(upload.body, stages);

  const outcome = await withTenant(pool, tenant, Roles.api, async (client) => {
    const scan = await lockOpenScan(client, upload.scanGuid);

    const previous = await findChunk(client, scan.scan_id, upload.seq);
    if (previous) return { scanId: scan.scan_id, receipt: await compareRepeat(decoded, hasher, previous, upload.seq) };

    await claimChunk(client, tenant.id, scan, upload.seq);
    const rows = await copyChunk(client, decoded, limits, scan.scan_id, upload.seq);
    const sha256 = hasher.digest();

    await client.query(
      'INSERT INTO ingest_chunk (scan_id, seq, sha256, body_bytes, row_count) VALUES ($1, $2, $3, $4, $5)',
      [scan.scan_id, upload.seq, sha256, sent.bytes, rows],
    );
    return { scanId: scan.scan_id, receipt: { seq: upload.seq, rows, sha256: sha256.toString('hex'), replayed: false } };
  }).catch((error: unknown) => {
    decoded.discard();
    throw translateBodyError(error);
  });

  if (outcome.receipt.replayed) return outcome.receipt;

  // Queued after the commit so the job never sees an uncommitted chunk. A crash just
  // here leaves the chunk RECEIVED without a job; finalisation queues it again.
  await queue.normalize({ tenantId: tenant.id, scanId: outcome.scanId, seq: upload.seq });
  return outcome.receipt;
}

type BodyChain = AsyncIterator<Buffer> & { discard(): void };

/**
 * Pipe the request through the transforms and hand back their output as an async
 * iterator. The request itself stays out of `pipeline`, so a rejected chunk does not
 * destroy the socket: `discard` unhooks the transforms and drains what the client is
 * still sending, and the error answer reaches it.
 */
function chain(body: Readable, stages: NodeJS.ReadWriteStream[]): BodyChain {
  const first = stages[0] as unknown as Writable;
  const last = stages[stages.length - 1] as unknown as Readable;

  body.pipe(first);
  body.once('error', (error) => first.destroy(error));
  pipeline(stages as unknown as [Readable, Writable]).catch((error: unknown) => last.destroy(error as Error));

  const iterator = last[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const discard = (): void => {
    body.unpipe(first);
    body.resume();
    for (const stage of stages) (stage as unknown as Readable).destroy();
  };
  return Object.assign(iterator, { discard });
}

async function lockOpenScan(client: pg.PoolClient, scanGuid: string): Promise<ScanRow> {
  // FOR SHARE holds off `complete` (which updates the row) until this chunk commits.
  const { rows } = await client.query<ScanRow>('SELECT scan_id, status FROM scan WHERE scan_guid = $1 FOR SHARE', [scanGuid]);
  const scan = rows[0];
  if (!scan) throw StrataError.notFound(`scan ${scanGuid}`);
  return scan;
}

async function findChunk(client: pg.PoolClient, scanId: number, seq: number): Promise<ChunkRow | undefined> {
  const { rows } = await client.query<ChunkRow>('SELECT sha256, row_count FROM ingest_chunk WHERE scan_id = $1 AND seq = $2', [
    scanId,
    seq,
  ]);
  return rows[0];
}

/** Hash the repeated body without buffering it, then replay the first receipt or reject the chunk. */
async function compareRepeat(
  decoded: AsyncIterator<Buffer>,
  hasher: Sha256Tap,
  previous: ChunkRow,
  seq: number,
): Promise<ChunkReceipt> {
  for (let next = await decoded.next(); !next.done; next = await decoded.next()) {
    // Only the hash of the body as sent matters here.
  }
  const sha256 = hasher.digest();

  if (!sha256.equals(previous.sha256)) {
    throw StrataError.conflict(
      'CHUNK_CONFLICT',
      `chunk ${seq} was already received with different content (SHA-256 ${previous.sha256.toString('hex')}); a chunk cannot be replaced, start a new scan`,
    );
  }
  return { seq, rows: previous.row_count, sha256: sha256.toString('hex'), replayed: true };
}

/**
 * Take the chunk's advisory lock for this transaction. A second upload of the same
 * chunk while the first is still streaming gets a retryable conflict instead of a
 * second COPY.
 */
async function claimChunk(client: pg.PoolClient, tenantId: string, scan: ScanRow, seq: number): Promise<void> {
  if (scan.status !== 'OPEN') {
    throw StrataError.conflict('SCAN_CLOSED', `scan is ${scan.status}; chunks can only be added to an OPEN scan`);
  }

  const { rows } = await client.query<{ locked: boolean }>(
    'SELECT pg_try_advisory_xact_lock(hashtext($1), $2) AS locked',
    [`strata.chunk:${tenantId}:${scan.scan_id}`, seq],
  );
  if (!rows[0]?.locked) {
    throw StrataError.conflict(CHUNK_IN_FLIGHT, `chunk ${seq} is being received by another request; retry shortly`, 2);
  }
}

async function copyChunk(
  client: pg.PoolClient,
  decoded: BodyChain,
  limits: IngestLimits,
  scanId: number,
  seq: number,
): Promise<number> {
  const header = await readChunkHeader(decoded);

  // The staging table's column defaults and length checks read these settings.
  await client.query(
    `SELECT set_config('strata.scan_id', $1, true), set_config('strata.chunk_seq', $2, true),
            set_config('strata.max_path_chars', $3, true), set_config('strata.max_name_chars', $4, true)`,
    [String(scanId), String(seq), String(limits.maxPathChars), String(limits.maxNameChars)],
  );

  // PostgreSQL rejects COPY FROM where RLS applies, so the COPY alone runs as the
  // table's owner. The table's CHECK still ties every row to this transaction's tenant.
  const columns = header.columns.map((column) => client.escapeIdentifier(column)).join(', ');
  await client.query(`SET LOCAL ROLE ${client.escapeIdentifier(Roles.stager)}`);
  const copy = client.query(copyFrom(`COPY staging_file (${columns}) FROM STDIN (FORMAT csv, HEADER true)`));

  async function* rest(): AsyncGenerator<Buffer> {
    yield header.firstBytes;
    for (let next = await decoded.next(); !next.done; next = await decoded.next()) yield next.value;
  }

  try {
    await pipeline(rest, copy);
  } catch (error) {
    throw translateCopyError(error);
  }
  await client.query(`SET LOCAL ROLE ${client.escapeIdentifier(Roles.api)}`);

  const rows = copy.rowCount;
  if (rows > limits.maxChunkRows) {
    throw StrataError.tooLarge('STRATA_MAX_CHUNK_ROWS', `chunk has ${rows} rows; at most ${limits.maxChunkRows} are allowed (STRATA_MAX_CHUNK_ROWS)`);
  }
  return rows;
}
