import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { CompleteScanRequest, OpenScanRequest, ScanView } from '../wire/contract.ts';
import type { IngestLimits } from '../config.ts';
import type { IngestQueue } from './ingestJobs.ts';

interface ScanViewRow {
  scan_id: number;
  scan_guid: string;
  share_name: string;
  root_path: string;
  status: ScanView['status'];
  chunks_received: number;
  chunks_normalized: number;
  rows_received: number;
  file_count: number | null;
  dir_count: number | null;
  duplicate_count: number | null;
  unreadable_count: number | null;
  expected_chunks: number | null;
  expected_rows: number | null;
  error: string | null;
}

const SCAN_VIEW = `
  SELECT s.scan_id, s.scan_guid, s.share_name, s.root_path, s.status, s.file_count, s.dir_count, s.duplicate_count,
         s.unreadable_count, s.expected_chunks, s.expected_rows, s.error,
         (SELECT count(*) FROM ingest_chunk c WHERE c.scan_id = s.scan_id) AS chunks_received,
         (SELECT count(*) FROM ingest_chunk c WHERE c.scan_id = s.scan_id AND c.state = 'NORMALIZED') AS chunks_normalized,
         (SELECT coalesce(sum(row_count), 0)::bigint FROM ingest_chunk c WHERE c.scan_id = s.scan_id) AS rows_received
    FROM scan s
   WHERE s.scan_guid = $1`;

function toView(row: ScanViewRow): ScanView {
  return {
    scanGuid: row.scan_guid,
    shareName: row.share_name,
    status: row.status,
    chunksReceived: row.chunks_received,
    chunksNormalized: row.chunks_normalized,
    rowsReceived: row.rows_received,
    fileCount: row.file_count,
    dirCount: row.dir_count,
    duplicateCount: row.duplicate_count,
    unreadableCount: row.unreadable_count,
    expectedChunks: row.expected_chunks,
    expectedRows: row.expected_rows,
    error: row.error,
  };
}

async function readView(client: pg.PoolClient, scanGuid: string): Promise<ScanViewRow> {
  const { rows } = await client.query<ScanViewRow>(SCAN_VIEW, [scanGuid]);
  if (!rows[0]) throw StrataError.notFound(`scan ${scanGuid}`);
  return rows[0];
}

/**
 * Open a scan, or return the one already opened under the same GUID. A repeat that
 * names another share or root is a conflict: the GUID belongs to a different scan.
 */
export async function openScan(
  pool: pg.Pool,
  tenant: TenantRef,
  actor: string,
  request: OpenScanRequest,
  limits: Pick<IngestLimits, 'maxNameChars'>,
): Promise<{ view: ScanView; created: boolean }> {
  return withTenant(pool, tenant, Roles.api, async (client) => {
    const inserted = await client.query(
      `INSERT INTO scan (scan_guid, share_name, source_type, root_path, path_style, started_at, agent_host, agent_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (scan_guid) DO NOTHING`,
      [
        request.scanGuid,
        request.shareName,
        request.sourceType,
        request.rootPath,
        request.pathStyle,
        request.startedAt,
        request.agentHost ?? null,
        request.agentVersion ?? null,
      ],
    );
    const created = inserted.rowCount === 1;
    const row = await readView(client, request.scanGuid);

    if (!created && (row.share_name !== request.shareName || row.root_path !== request.rootPath)) {
      throw StrataError.conflict('SCAN_GUID_REUSED', `scan ${request.scanGuid} already exists for another share or root`);
    }
    if (created) {
      // The scan's partition of `file`, with this tenant, the path style and the
      // current name length limit fixed in its CHECK constraints. Folder paths are
      // checked per folder by the chunk receiver.
      await client.query('SELECT create_scan_partition($1, $2, $3)', [row.scan_id, request.pathStyle, limits.maxNameChars]);
      await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'scan.opened', $2)", [
        actor,
        { scanGuid: request.scanGuid, share: request.shareName, root: request.rootPath },
      ]);
    }
    return { view: toView(row), created };
  });
}

export async function getScan(pool: pg.Pool, tenant: TenantRef, scanGuid: string): Promise<ScanView> {
  return withTenant(pool, tenant, Roles.api, async (client) => toView(await readView(client, scanGuid)));
}

/**
 * Close a scan for uploads once every chunk from 0 to `chunkCount - 1` has arrived
 * and the rows add up, then queue its finalisation. Repeating the same request returns
 * the scan in its current state, and queues finalisation again while it is COMPLETING.
 */
export async function completeScan(
  pool: pg.Pool,
  queue: IngestQueue,
  tenant: TenantRef,
  actor: string,
  scanGuid: string,
  request: CompleteScanRequest,
): Promise<ScanView> {
  const result = await withTenant(pool, tenant, Roles.api, async (client) => {
    const locked = await client.query<{
      scan_id: number;
      status: string;
      expected_chunks: number | null;
      expected_rows: number | null;
      unreadable_count: number | null;
      error: string | null;
    }>(
      'SELECT scan_id, status, expected_chunks, expected_rows, unreadable_count, error FROM scan WHERE scan_guid = $1 FOR UPDATE',
      [scanGuid],
    );
    const scan = locked.rows[0];
    if (!scan) throw StrataError.notFound(`scan ${scanGuid}`);

    if (scan.status === 'FAILED') {
      throw StrataError.conflict('SCAN_FAILED', `scan ${scanGuid} failed: ${scan.error ?? 'no reason recorded'}; start a new scan`);
    }
    if (scan.status !== 'OPEN') {
      if (
        scan.expected_chunks !== request.chunkCount ||
        scan.expected_rows !== request.rowCount ||
        scan.unreadable_count !== request.unreadableCount
      ) {
        throw StrataError.conflict('SCAN_CLOSED', `scan ${scanGuid} was already completed with other counts`);
      }
      // A repeat for a scan still COMPLETING queues its finalisation again: the first
      // request may have committed and then died before its job was sent. The queue
      // keeps one waiting job per scan, so this adds no second one.
      return { scanId: scan.scan_id, view: toView(await readView(client, scanGuid)), queued: scan.status === 'COMPLETING' };
    }

    await checkChunksAddUp(client, scan.scan_id, request);
    await client.query(
      `UPDATE scan SET status = 'COMPLETING', expected_chunks = $2, expected_rows = $3, unreadable_count = $4,
              completed_at = extract(epoch from now())::bigint
        WHERE scan_id = $1`,
      [scan.scan_id, request.chunkCount, request.rowCount, request.unreadableCount],
    );
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'scan.completed', $2)", [
      actor,
      { scanGuid, ...request },
    ]);
    return { scanId: scan.scan_id, view: toView(await readView(client, scanGuid)), queued: true };
  });

  if (result.queued) await queue.finalize({ tenantId: tenant.id, scanId: result.scanId });
  return result.view;
}

async function checkChunksAddUp(client: pg.PoolClient, scanId: number, request: CompleteScanRequest): Promise<void> {
  const { rows } = await client.query<{ missing: number[]; extra: number[]; rows: number }>(
    `SELECT ARRAY(SELECT n FROM generate_series(0, $2::int - 1) AS n
                   WHERE NOT EXISTS (SELECT 1 FROM ingest_chunk c WHERE c.scan_id = $1 AND c.seq = n)
                   ORDER BY n LIMIT 20) AS missing,
            ARRAY(SELECT seq FROM ingest_chunk WHERE scan_id = $1 AND seq >= $2 ORDER BY seq LIMIT 20) AS extra,
            (SELECT coalesce(sum(row_count), 0)::bigint FROM ingest_chunk WHERE scan_id = $1) AS rows`,
    [scanId, request.chunkCount],
  );
  const check = rows[0]!;

  if (check.missing.length > 0) {
    throw StrataError.conflict('CHUNKS_MISSING', `chunk(s) ${check.missing.join(', ')} have not been received; upload them, then complete again`);
  }
  if (check.extra.length > 0) {
    throw StrataError.invalid('CHUNK_COUNT_MISMATCH', `chunk(s) ${check.extra.join(', ')} were received but chunkCount is ${request.chunkCount}`);
  }
  if (check.rows !== request.rowCount) {
    throw StrataError.invalid('ROW_COUNT_MISMATCH', `the received chunks hold ${check.rows} rows but rowCount is ${request.rowCount}`);
  }
}
