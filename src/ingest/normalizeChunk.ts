import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import { DELETE_STAGED, INSERT_DIRS, INSERT_FILES } from './sql/normalizeChunk.ts';
import type { IngestQueue, NormalizeJob } from './ingestJobs.ts';

export type NormalizeOutcome = 'normalized' | 'already-normalized' | 'unknown-chunk';

/**
 * Move one received chunk from staging into `dir` and `file`, delete its staged rows
 * and mark it NORMALIZED, all in one transaction. Running it again for the same chunk
 * finds it NORMALIZED and does nothing, so a retried or duplicated job is harmless.
 *
 * Chunks of one share are normalised one at a time (a transaction-level advisory lock
 * per tenant and share): they insert into the same directories, and two concurrent
 * inserts of overlapping directory sets could otherwise deadlock.
 */
export async function normalizeChunk(
  pool: pg.Pool,
  queue: IngestQueue,
  tenant: TenantRef,
  job: NormalizeJob,
  log: Logger,
): Promise<NormalizeOutcome> {
  const result = await withTenant(pool, tenant, Roles.ingest, async (client) => {
    const scan = await client.query<{ share_name: string; status: string }>(
      'SELECT share_name, status FROM scan WHERE scan_id = $1',
      [job.scanId],
    );
    const shareName = scan.rows[0]?.share_name;
    if (shareName === undefined) return { outcome: 'unknown-chunk' as const };

    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`strata.normalize:${tenant.id}:${shareName}`]);

    const chunk = await client.query<{ state: string; row_count: number }>(
      'SELECT state, row_count FROM ingest_chunk WHERE scan_id = $1 AND seq = $2 FOR UPDATE',
      [job.scanId, job.seq],
    );
    const state = chunk.rows[0]?.state;
    if (state === undefined) return { outcome: 'unknown-chunk' as const };
    if (state === 'NORMALIZED') return { outcome: 'already-normalized' as const };

    const params = [job.scanId, job.seq, shareName];
    await client.query(INSERT_DIRS, params);

    // Staging and freshly loaded tables have no statistics yet, and this role may not
    // ANALYZE them. The planner then guesses a handful of rows and may pick a nested
    // loop that hashes every staged path once per folder, which takes minutes instead
    // of seconds for 250,000 rows. A hash join is right at every chunk size.
    await client.query('SET LOCAL enable_nestloop = off');
    const files = await client.query(INSERT_FILES, params);
    await client.query(DELETE_STAGED, [job.scanId, job.seq]);
    await client.query(
      `UPDATE ingest_chunk SET state = 'NORMALIZED', inserted_rows = $3, normalized_at = extract(epoch from now())::bigint
        WHERE scan_id = $1 AND seq = $2`,
      [job.scanId, job.seq, files.rowCount ?? 0],
    );

    const left = await client.query<{ waiting: boolean }>(
      `SELECT s.status = 'COMPLETING' AND NOT EXISTS (
                SELECT 1 FROM ingest_chunk c WHERE c.scan_id = s.scan_id AND c.state = 'RECEIVED') AS waiting
         FROM scan s WHERE s.scan_id = $1`,
      [job.scanId],
    );
    return { outcome: 'normalized' as const, rows: files.rowCount ?? 0, finalize: left.rows[0]?.waiting === true };
  });

  if (result.outcome === 'normalized') {
    log.debug({ rows: result.rows }, 'chunk normalised');
    if (result.finalize) await queue.finalize({ tenantId: tenant.id, scanId: job.scanId });
  } else {
    log.info({ outcome: result.outcome }, 'normalise job found nothing to do');
  }
  return result.outcome;
}
