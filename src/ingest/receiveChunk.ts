import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { IngestLimits } from '../config.ts';
import { StrataError } from '../errors.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { CHUNK_IN_FLIGHT, type ChunkReceipt } from '../wire/contract.ts';
import { csvSource, parquetSource, type ChunkFormat, type ChunkSource, type OpenedChunk } from './chunkSource.ts';
import { translateBodyError, translateCopyError } from './copyErrors.ts';
import { scanPartition } from './scanPartition.ts';
import { stageChunkFolders } from './stageChunkFolders.ts';
import type { PathStyle } from './folderPaths.ts';

export interface ChunkUpload {
  scanGuid: string;
  seq: number;
  body: Readable;
  format: ChunkFormat;
  gzip: boolean;
}

/** Time per step of storing a chunk, for the request log. */
export interface ChunkTimings {
  /** From the first byte read to the end of COPY, including the wait for the client's bytes. */
  copyMs: number;
  /** Checking the chunk's folders and staging them for finalisation. */
  foldersMs: number;
  folders: number;
}

interface ScanRow {
  scan_id: number;
  status: string;
  share_name: string;
  path_style: PathStyle;
  error: string | null;
}

interface ChunkRow {
  sha256: Buffer;
  row_count: number;
}

/**
 * Receive one chunk exactly once. The body passes the size limits and a SHA-256 into
 * `COPY … FROM STDIN` of the scan's partition of `file`, where the rows stay. The
 * chunk's folders go to the scan's partition of `scan_dir`, and its ledger row is
 * written, in the same transaction, so all three commit together or not at all.
 * A repeat with the same bytes is answered from the ledger without a COPY; different
 * bytes under the same sequence number are a conflict.
 */
export async function receiveChunk(
  pool: pg.Pool,
  limits: IngestLimits,
  tenant: TenantRef,
  upload: ChunkUpload,
  timings?: ChunkTimings,
): Promise<ChunkReceipt> {
  let source: ChunkSource | undefined;
  try {
    source = upload.format === 'parquet'
      ? await parquetSource(upload.body, limits, upload.gzip)
      : csvSource(upload.body, limits, upload.gzip);
    const ready = source;

    // The header (or the Parquet schema) is read before a database connection is
    // taken, so a client that connects and sends nothing keeps no connection busy.
    const opened = await ready.open();

    return await withTenant(pool, tenant, Roles.api, async (client) => {
      const scan = await lockScan(client, upload.scanGuid);

      const previous = await findChunk(client, scan.scan_id, upload.seq);
      if (previous) return compareRepeat(ready, previous, upload.seq);

      await claimChunk(client, tenant.id, scan, upload.seq);
      // Another request may have stored this chunk and released the lock between the
      // lookup above and the claim. This statement reads its commit.
      const stored = await findChunk(client, scan.scan_id, upload.seq);
      if (stored) return compareRepeat(ready, stored, upload.seq);

      // PostgreSQL rejects COPY FROM where RLS applies, so the two COPY statements run
      // as the owner of the scan's partitions. Their CHECKs still tie every row to the
      // scan's tenant, and their defaults fill in the tenant and scan ids.
      await client.query(`SET LOCAL ROLE ${client.escapeIdentifier(Roles.stager)}`);
      const copyStarted = performance.now();
      const rows = await copyChunk(client, ready, opened, limits, scan);
      const foldersStarted = performance.now();
      const folders = await stageChunkFolders(client, { scanId: scan.scan_id, share: scan.share_name, pathStyle: scan.path_style }, ready.folders(), limits);
      await client.query(`SET LOCAL ROLE ${client.escapeIdentifier(Roles.api)}`);
      if (timings) {
        timings.copyMs = Math.round(foldersStarted - copyStarted);
        timings.foldersMs = Math.round(performance.now() - foldersStarted);
        timings.folders = folders;
      }
      const sha256 = ready.sha256();

      // The rows are in their final table already: the chunk is stored as it commits.
      await client.query(
        `INSERT INTO ingest_chunk (scan_id, seq, sha256, body_bytes, row_count, inserted_rows, state, normalized_at)
         VALUES ($1, $2, $3, $4, $5, $5, 'NORMALIZED', extract(epoch from now())::bigint)`,
        [scan.scan_id, upload.seq, sha256, ready.bytes(), rows],
      );
      return { seq: upload.seq, rows, sha256: sha256.toString('hex'), replayed: false };
    });
  } catch (error) {
    throw translateBodyError(error);
  } finally {
    await source?.close();
  }
}

async function lockScan(client: pg.PoolClient, scanGuid: string): Promise<ScanRow> {
  // FOR SHARE holds off `complete` (which updates the row) until this chunk commits.
  const { rows } = await client.query<ScanRow>('SELECT scan_id, status, share_name, path_style, error FROM scan WHERE scan_guid = $1 FOR SHARE', [scanGuid]);
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

/** Hash the repeated body without loading its rows, then replay the first receipt or reject the chunk. */
async function compareRepeat(source: ChunkSource, previous: ChunkRow, seq: number): Promise<ChunkReceipt> {
  await source.drain();
  const sha256 = source.sha256();

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
    const reason = scan.error === null ? '' : ` (${scan.error})`;
    throw StrataError.conflict('SCAN_CLOSED', `scan is ${scan.status}${reason}; chunks can only be added to an OPEN scan`);
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
  source: ChunkSource,
  opened: OpenedChunk,
  limits: IngestLimits,
  scan: ScanRow,
): Promise<number> {
  const { columns, csv } = opened;

  // The chunk source has put each folder's hash where the chunk had its path.
  const columnList = columns
    .map((column) => client.escapeIdentifier(column === 'dir_path' ? 'dir_hash' : column))
    .join(', ');
  const partition = client.escapeIdentifier(scanPartition(scan.scan_id));
  const copy = client.query(copyFrom(`COPY ${partition} (${columnList}) FROM STDIN (FORMAT csv, HEADER true)`));

  try {
    await pipeline(Readable.from(csv), copy);
  } catch (error) {
    throw translateCopyError(error, source.format, (line) => source.sentLine(line));
  }

  const rows = copy.rowCount;
  const counted = source.rowsCounted();
  if (counted !== undefined && counted !== rows) {
    throw StrataError.invalid('INVALID_CHUNK_ROW', `COPY loaded ${rows} rows but the chunk contains ${counted} CSV records; no row of this chunk was kept`);
  }
  if (rows > limits.maxChunkRows) {
    throw StrataError.tooLarge('STRATA_MAX_CHUNK_ROWS', `chunk has ${rows} rows; at most ${limits.maxChunkRows} are allowed (STRATA_MAX_CHUNK_ROWS)`);
  }
  return rows;
}
