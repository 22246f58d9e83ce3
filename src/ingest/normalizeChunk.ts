import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import { DELETE_STAGED, FIND_HASH_COLLISION, INSERT_DIRS, INSERT_FILES } from './sql/normalizeChunk.ts';
import type { IngestQueue, NormalizeJob } from './ingestJobs.ts';

export type NormalizeOutcome = 'normalized' | 'already-normalized' | 'unknown-chunk';

/** Two folder paths of one share with the same 64-bit hash; the chunk cannot be stored. */
export class FolderHashCollisionError extends Error {
  override name = 'FolderHashCollisionError';
}

/**
 * Move one received chunk from staging into `dir` and `file`, delete its staged rows
 * and mark it NORMALIZED, all in one transaction. Running it again for the same chunk
 * finds it NORMALIZED and does nothing, so a retried or duplicated job is harmless.
 * Chunks of one scan may be normalised at the same time; the chunk row's lock keeps
 * two jobs for the same chunk apart.
 */
export async function normalizeChunk(
  pool: pg.Pool,
  queue: IngestQueue,
  tenant: TenantRef,
  job: NormalizeJob,
  log: Logger,
): Promise<NormalizeOutcome> {
  const result = await withTenant(pool, tenant, Roles.ingest, async (client) => {
    const chunk = await client.query<{ state: string; share_name: string }>(
      `SELECT c.state, s.share_name
         FROM ingest_chunk c JOIN scan s ON s.scan_id = c.scan_id
        WHERE c.scan_id = $1 AND c.seq = $2
          FOR UPDATE OF c`,
      [job.scanId, job.seq],
    );
    const row = chunk.rows[0];
    if (row === undefined) return { outcome: 'unknown-chunk' as const };
    if (row.state === 'NORMALIZED') return { outcome: 'already-normalized' as const };

    // Staging and freshly loaded tables have no statistics yet, and this role may not
    // ANALYZE them. The planner then guesses a handful of rows and may drive a nested
    // loop from the wrong side, re-reading the staged chunk once per stored folder:
    // minutes instead of a second for 250,000 rows. Hash joins suit every chunk size.
    await client.query('SET LOCAL enable_nestloop = off');

    const params = [job.scanId, job.seq, row.share_name];
    await client.query(INSERT_DIRS, params);
    const collision = await client.query<{ dir_path: string }>(FIND_HASH_COLLISION, params);
    if (collision.rows[0]) {
      throw new FolderHashCollisionError(
        `folder ${JSON.stringify(collision.rows[0].dir_path)} has the same 64-bit hash as another folder of share ${row.share_name}`,
      );
    }

    const files = await client.query(INSERT_FILES, [job.scanId, job.seq]);
    await client.query(DELETE_STAGED, [job.scanId, job.seq]);
    await client.query(
      `UPDATE ingest_chunk SET state = 'NORMALIZED', inserted_rows = $3, normalized_at = extract(epoch from now())::bigint
        WHERE scan_id = $1 AND seq = $2`,
      [job.scanId, job.seq, files.rowCount ?? 0],
    );
    return { outcome: 'normalized' as const, rows: files.rowCount ?? 0 };
  });

  if (result.outcome !== 'normalized') {
    log.info({ outcome: result.outcome }, 'normalise job found nothing to do');
    return result.outcome;
  }

  log.debug({ rows: result.rows }, 'chunk normalised');
  // Checked after the commit: of two chunks finishing together, the later commit
  // reads the earlier one's state and queues finalisation. Both may, which is harmless.
  if (await readyToFinalize(pool, tenant, job.scanId)) await queue.finalize({ tenantId: tenant.id, scanId: job.scanId });
  return result.outcome;
}

async function readyToFinalize(pool: pg.Pool, tenant: TenantRef, scanId: number): Promise<boolean> {
  return withTenant(pool, tenant, Roles.ingest, async (client) => {
    const { rows } = await client.query<{ ready: boolean }>(
      `SELECT s.status = 'COMPLETING' AND NOT EXISTS (
                SELECT 1 FROM ingest_chunk c WHERE c.scan_id = s.scan_id AND c.state = 'RECEIVED') AS ready
         FROM scan s WHERE s.scan_id = $1`,
      [scanId],
    );
    return rows[0]?.ready === true;
  });
}
