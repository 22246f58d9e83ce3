import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import type { FinalizeJob } from './ingestJobs.ts';
import { mergeScanFolders, type FolderMerge } from './mergeScanFolders.ts';
import {
  LOCK_SHARE_FINISHING,
  NEWER_OK_SCAN,
  PREVIOUS_NONEMPTY_SCAN,
  PARTITIONS_LEFT_OVER,
  STAGED_FOLDERS_LEFT_OVER,
  SCANS_TO_EXPIRE,
  SUPERSEDE_OLDER_OPEN_SCANS,
} from './sql/finalizeScan.ts';

export type FinalizeOutcome = 'finished' | 'superseded' | 'empty' | 'collision' | 'not-completing';

export interface FinalizeOptions {
  /** OK scans kept per share; older ones expire and their partitions are dropped. */
  keepScans: number;
  /** Memory for the index build and the grouping of one scan, in MiB. */
  memoryMb: number;
}

/** A scan's totals: files, bytes, distinct folders, and files whose access time cannot be real (see T0013). */
const COUNT_SCAN = 'SELECT dirs, files, bytes, atime_suspect FROM count_scan_partition($1)';

/** Maximum wait for the lock that dropping a partition needs on `file`. After it, retention tries again later. */
const DROP_LOCK_TIMEOUT = '3s';

interface Totals {
  dirs: string;
  files: string;
  bytes: string;
  atime_suspect: string;
}

/**
 * Close a COMPLETING scan. Every chunk was stored, and its folders checked and staged,
 * when it was received, so what is left is to index the scan's partition, count it and
 * add its new folders to `dir`. The three run at once, each in its own transaction: one
 * builds the partition's unique index (removing files listed twice, and adding their
 * number to the scan's duplicate count), one totals the rows, one merges the folders.
 * A last transaction marks the scan OK, or FAILED when two of its folders, or one of
 * them and a stored one, share a hash. Each step can run again after a crash: the index
 * is made only if missing and the merge skips stored folders. A scan that is no longer
 * COMPLETING is left alone, so a repeated job is harmless. Then the share's oldest OK
 * scans expire.
 *
 * Snapshots of a share finish in the order they were opened. A scan that finishes after
 * a newer one is FAILED as superseded, and finishing a scan fails the OPEN scans opened
 * before it, so an agent resuming an old scan cannot make stale data the latest.
 */
export async function finalizeScan(
  pool: pg.Pool,
  tenant: TenantRef,
  job: FinalizeJob,
  log: Logger,
  options: FinalizeOptions,
): Promise<FinalizeOutcome> {
  const share = await withTenant(pool, tenant, Roles.ingest, async (client) => {
    const { rows } = await client.query<{ status: string; share_name: string }>('SELECT status, share_name FROM scan WHERE scan_id = $1', [job.scanId]);
    return rows[0]?.status === 'COMPLETING' ? rows[0].share_name : undefined;
  });
  if (share === undefined) return 'not-completing';

  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let countMs = 0;
  let mergeMs = 0;
  const [indexMs, totals, folders] = await Promise.all([
    indexPartition(pool, tenant, job.scanId, options).then(elapsed),
    countScan(pool, tenant, job.scanId, options).finally(() => (countMs = elapsed())),
    mergeScanFolders(pool, tenant, job.scanId, share, options.memoryMb).finally(() => (mergeMs = elapsed())),
  ]);

  const finished = await markOk(pool, tenant, share, job.scanId, totals, folders);
  if (!finished) return 'not-completing';
  if (finished.collision !== undefined) {
    log.error({ scanId: job.scanId, share, error: finished.collision }, 'scan failed: a folder hash collision');
  } else if (finished.supersededBy !== undefined) {
    log.warn({ scanId: job.scanId, share, newerScanId: finished.supersededBy }, 'scan superseded: a scan opened after it finished first');
  } else if (finished.emptiedShare !== undefined) {
    log.warn({ scanId: job.scanId, share, previousScanId: finished.emptiedShare }, 'scan failed: it found no files where the previous scan found some');
  } else {
    const newFolders = 'added' in folders ? folders.added : 0;
    log.info({ ...finished, dirs: Number(totals.dirs), newFolders, indexMs, countMs, mergeMs, totalMs: elapsed() }, 'scan finished');
  }
  if (finished.failedOlder.length > 0) {
    log.warn({ scanId: job.scanId, share, supersededScanIds: finished.failedOlder }, 'older OPEN scans of the share failed as superseded');
  }

  if (finished.collision === undefined && finished.supersededBy === undefined && finished.emptiedShare === undefined) {
    // Statistics for the planner's reads of the new snapshot, gathered once it is OK
    // rather than on the index build's path. Until then (well under a second) a plan
    // takes the partition for a small one; autovacuum would analyze it too.
    await withTenant(pool, tenant, Roles.ingest, (client) => client.query('SELECT analyze_scan_partition($1)', [job.scanId]));
  }
  await expireOldScans(pool, tenant, share, options.keepScans, log);
  await dropLeftOverPartitions(pool, tenant, share, log);
  await dropLeftOverStagedFolders(pool, tenant, share, log);
  if (finished.collision !== undefined) return 'collision';
  if (finished.supersededBy !== undefined) return 'superseded';
  return finished.emptiedShare === undefined ? 'finished' : 'empty';
}

/** Build the unique index; count the duplicates it removed into the scan's row in the same transaction. */
async function indexPartition(pool: pg.Pool, tenant: TenantRef, scanId: number, options: FinalizeOptions): Promise<void> {
  await withTenant(pool, tenant, Roles.ingest, async (client) => {
    // Enough memory for the sort to stay off disk (the default is 64 MB).
    await client.query("SELECT set_config('maintenance_work_mem', $1, true)", [`${options.memoryMb}MB`]);
    const { rows } = await client.query<{ removed: string }>('SELECT index_scan_partition($1) AS removed', [scanId]);
    await client.query('UPDATE scan SET duplicate_count = coalesce(duplicate_count, 0) + $2 WHERE scan_id = $1', [scanId, rows[0]!.removed]);
  });
}

async function countScan(pool: pg.Pool, tenant: TenantRef, scanId: number, options: FinalizeOptions): Promise<Totals> {
  return withTenant(pool, tenant, Roles.ingest, async (client) => {
    // With the default 4 MB the grouping of a million rows spills in dozens of batches.
    await client.query("SELECT set_config('work_mem', $1, true)", [`${options.memoryMb}MB`]);
    const { rows } = await client.query<Totals>(COUNT_SCAN, [scanId]);
    return rows[0]!;
  });
}

interface Marked {
  files: number;
  duplicates: number;
  /** The newer OK scan that made this one superseded, when it did. */
  supersededBy?: number;
  /** Older OPEN scans of the share failed because this one finished. */
  failedOlder: number[];
  /** The share's latest scan with files, when this one found none and failed for it. */
  emptiedShare?: number;
  /** The reason the scan failed on a folder hash collision, when it did. */
  collision?: string;
}

/**
 * Mark the scan OK with its totals, or FAILED when a scan of the share opened after it
 * is already OK. The count may have included rows that the index step removed as
 * duplicates; only then is the scan counted again.
 */
async function markOk(pool: pg.Pool, tenant: TenantRef, share: string, scanId: number, counted: Totals, folders: FolderMerge): Promise<Marked | undefined> {
  return withTenant(pool, tenant, Roles.ingest, async (client) => {
    await client.query(LOCK_SHARE_FINISHING, [share]);
    const locked = await client.query<{ status: string; duplicate_count: string | null }>(
      'SELECT status, duplicate_count FROM scan WHERE scan_id = $1 FOR UPDATE',
      [scanId],
    );
    const scan = locked.rows[0];
    if (scan?.status !== 'COMPLETING') return undefined;

    const duplicates = Number(scan.duplicate_count ?? 0);
    if ('collision' in folders) {
      await client.query(
        `UPDATE scan SET status = 'FAILED', finished_at = extract(epoch from clock_timestamp())::bigint, error = $2 WHERE scan_id = $1`,
        [scanId, folders.collision],
      );
      await audit(client, scanId, 'scan.failed');
      return { files: 0, duplicates, collision: folders.collision, failedOlder: [] };
    }

    const newer = await client.query<{ scan_id: number }>(NEWER_OK_SCAN, [share, scanId]);
    if (newer.rows[0]) {
      await client.query(
        `UPDATE scan SET status = 'FAILED', finished_at = extract(epoch from clock_timestamp())::bigint,
                error = 'superseded: scan ' || $2 || ' of the share was opened later and finished first'
          WHERE scan_id = $1`,
        [scanId, newer.rows[0].scan_id],
      );
      await audit(client, scanId, 'scan.superseded');
      return { files: 0, duplicates, supersededBy: newer.rows[0].scan_id, failedOlder: [] };
    }

    const totals = duplicates > 0 ? (await client.query<Totals>(COUNT_SCAN, [scanId])).rows[0]! : counted;
    if (Number(totals.files) === 0) {
      const previous = await client.query<{ scan_id: number; file_count: string }>(PREVIOUS_NONEMPTY_SCAN, [share, scanId]);
      if (previous.rows[0]) {
        // An empty scan of a share that had files is almost always an unmounted or
        // unreadable root. As the latest snapshot it would drop every plan of the share.
        await client.query(
          `UPDATE scan SET status = 'FAILED', finished_at = extract(epoch from clock_timestamp())::bigint, file_count = 0,
                  error = 'found no files where scan ' || $2 || ' found ' || $3 || '; the share root may be unmounted or unreadable, so the previous snapshot stays the latest'
            WHERE scan_id = $1`,
          [scanId, previous.rows[0].scan_id, previous.rows[0].file_count],
        );
        await audit(client, scanId, 'scan.rejected_empty');
        return { files: 0, duplicates, emptiedShare: previous.rows[0].scan_id, failedOlder: [] };
      }
    }

    // clock_timestamp, not now(): the transaction may have waited for the share's lock.
    await client.query(
      `UPDATE scan SET status = 'OK', finished_at = extract(epoch from clock_timestamp())::bigint,
              file_count = $2, duplicate_count = $3, dir_count = $4, total_bytes = $5, atime_suspect_count = $6
        WHERE scan_id = $1`,
      [scanId, totals.files, duplicates, totals.dirs, totals.bytes, totals.atime_suspect],
    );
    await audit(client, scanId, 'scan.finished');

    const older = await client.query<{ scan_id: number }>(SUPERSEDE_OLDER_OPEN_SCANS, [share, scanId]);
    for (const row of older.rows) {
      await audit(client, row.scan_id, 'scan.superseded');
    }
    return { files: Number(totals.files), duplicates, failedOlder: older.rows.map((row) => row.scan_id) };
  });
}

/** Record a scan's change of state in the audit log, with its GUID and totals. */
async function audit(client: pg.PoolClient, scanId: number, action: string): Promise<void> {
  await client.query(
    `INSERT INTO audit_log (actor, action, details)
     SELECT 'ingest', $2, jsonb_build_object('scanGuid', scan_guid, 'files', file_count, 'bytes', total_bytes, 'error', error)
       FROM scan WHERE scan_id = $1`,
    [scanId, action],
  );
}

/**
 * Drop the staged folders of the share's OK scans, which are in `dir` now: the scan just
 * finished, and any whose drop did not get its lock or whose worker died before it.
 */
async function dropLeftOverStagedFolders(pool: pg.Pool, tenant: TenantRef, share: string, log: Logger): Promise<void> {
  const { busy } = await forEachScan(pool, tenant, STAGED_FOLDERS_LEFT_OVER, [share], async (client, scanId) => {
    await client.query('SELECT drop_scan_folders($1)', [scanId]);
  });
  for (const scanId of busy) log.warn({ scanId, share }, 'staged folders not dropped yet: they are in use; the next finished scan retries');
}

/**
 * Expire the share's OK scans beyond the newest `keep`, one transaction each: the scan
 * becomes EXPIRED and its partition is dropped, which frees its rows at once instead
 * of a long DELETE. When the drop cannot get its lock quickly (a long read of `file`
 * is running), that scan stays OK and the next finished scan of the share tries again.
 */
async function expireOldScans(pool: pg.Pool, tenant: TenantRef, share: string, keep: number, log: Logger): Promise<void> {
  const { done, busy } = await forEachScan(pool, tenant, SCANS_TO_EXPIRE, [share, keep], async (client, scanId) => {
    await client.query(
      "UPDATE scan SET status = 'EXPIRED', expired_at = extract(epoch from now())::bigint WHERE scan_id = $1 AND status = 'OK'",
      [scanId],
    );
    await client.query('SELECT drop_scan_partition($1)', [scanId]);
  });
  for (const scanId of done) log.info({ expiredScanId: scanId, share }, 'scan expired by retention');
  for (const scanId of busy) log.warn({ expiredScanId: scanId, share }, 'scan not expired yet: its partition is in use; the next finished scan retries');
}

/**
 * Drop the partitions that FAILED and EXPIRED scans of the share still have, because a
 * drop gave up on its lock or the scan was superseded.
 */
async function dropLeftOverPartitions(pool: pg.Pool, tenant: TenantRef, share: string, log: Logger): Promise<void> {
  const { done, busy } = await forEachScan(pool, tenant, PARTITIONS_LEFT_OVER, [share], async (client, scanId) => {
    await client.query('SELECT drop_scan_partition($1)', [scanId]);
  });
  for (const scanId of done) log.info({ droppedScanId: scanId, share }, 'partition of a failed or expired scan dropped');
  for (const scanId of busy) log.warn({ droppedScanId: scanId, share }, 'partition not dropped yet: it is in use; the next finished scan retries');
}

/**
 * Run `work` for each scan that `listSql` returns, one transaction each, waiting at most
 * `DROP_LOCK_TIMEOUT` for a lock. Returns the scans done and those whose lock was busy,
 * which the next finished scan of the share tries again.
 */
async function forEachScan(
  pool: pg.Pool,
  tenant: TenantRef,
  listSql: string,
  parameters: unknown[],
  work: (client: pg.PoolClient, scanId: number) => Promise<void>,
): Promise<{ done: number[]; busy: number[] }> {
  const scanIds = await withTenant(pool, tenant, Roles.ingest, async (client) => {
    const { rows } = await client.query<{ scan_id: number }>(listSql, parameters);
    return rows.map((row) => row.scan_id);
  });

  const done: number[] = [];
  const busy: number[] = [];
  for (const scanId of scanIds) {
    try {
      await withTenant(pool, tenant, Roles.ingest, async (client) => {
        await client.query(`SET LOCAL lock_timeout = '${DROP_LOCK_TIMEOUT}'`);
        await work(client, scanId);
      });
      done.push(scanId);
    } catch (error) {
      if (sqlStateOf(error) !== SqlState.lockNotAvailable) throw error;
      busy.push(scanId);
    }
  }
  return { done, busy };
}
