import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import type { FinalizeJob, IngestQueue } from './ingestJobs.ts';

export type FinalizeOutcome = 'finished' | 'waiting' | 'not-completing';

/**
 * Seconds before finalisation looks again at a scan whose chunks are still being
 * normalised. It is a safety net: the job that normalises the last chunk queues
 * finalisation itself.
 */
export const FINALIZE_RETRY_SECONDS = 30;

/** A chunk RECEIVED for longer than this has probably lost its job and is queued again. */
export const STUCK_CHUNK_SECONDS = 60;

/**
 * Close a COMPLETING scan once every chunk is normalised: status OK with its counts.
 * If chunks are still RECEIVED it queues their normalisation again (a crash between a
 * chunk's commit and its job leaves exactly this) and looks again later.
 */
export async function finalizeScan(
  pool: pg.Pool,
  queue: IngestQueue,
  tenant: TenantRef,
  job: FinalizeJob,
  log: Logger,
): Promise<FinalizeOutcome> {
  const result = await withTenant(pool, tenant, Roles.ingest, async (client) => {
    const scan = await client.query<{ status: string }>('SELECT status FROM scan WHERE scan_id = $1 FOR UPDATE', [job.scanId]);
    if (scan.rows[0]?.status !== 'COMPLETING') return { outcome: 'not-completing' as const, waiting: [] };

    const pending = await client.query<{ seq: number; stuck: boolean }>(
      `SELECT seq, received_at < extract(epoch from now())::bigint - $2 AS stuck
         FROM ingest_chunk WHERE scan_id = $1 AND state = 'RECEIVED' ORDER BY seq`,
      [job.scanId, STUCK_CHUNK_SECONDS],
    );
    if (pending.rows.length > 0) {
      return { outcome: 'waiting' as const, waiting: pending.rows.filter((row) => row.stuck).map((row) => row.seq) };
    }

    await client.query(
      `WITH chunks AS (
         SELECT coalesce(sum(inserted_rows), 0) AS files, coalesce(sum(row_count - inserted_rows), 0) AS duplicates
           FROM ingest_chunk WHERE scan_id = $1),
       contents AS (
         SELECT count(DISTINCT dir_hash) AS dirs, coalesce(sum(size_bytes), 0) AS bytes FROM file WHERE scan_id = $1)
       UPDATE scan
          SET status = 'OK', finished_at = extract(epoch from now())::bigint,
              file_count = chunks.files, duplicate_count = chunks.duplicates,
              dir_count = contents.dirs, total_bytes = contents.bytes
         FROM chunks, contents
        WHERE scan_id = $1`,
      [job.scanId],
    );
    await client.query(
      `INSERT INTO audit_log (actor, action, details)
       SELECT 'ingest', 'scan.finished', jsonb_build_object('scanGuid', scan_guid, 'files', file_count, 'bytes', total_bytes)
         FROM scan WHERE scan_id = $1`,
      [job.scanId],
    );
    return { outcome: 'finished' as const, waiting: [] };
  });

  if (result.outcome === 'waiting') {
    for (const seq of result.waiting) await queue.normalize({ tenantId: tenant.id, scanId: job.scanId, seq });
    await queue.finalize(job, { delaySeconds: FINALIZE_RETRY_SECONDS });
    log.info({ chunksRequeued: result.waiting.length }, 'scan still has chunks to normalise; looking again later');
  } else if (result.outcome === 'finished') {
    log.info('scan finished');
  }
  return result.outcome;
}
