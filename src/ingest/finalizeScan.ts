import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import type { FinalizeJob } from './ingestJobs.ts';
import { FINISH_SCAN_FOLDERS, SCANS_TO_EXPIRE } from './sql/finalizeScan.ts';

export type FinalizeOutcome = 'finished' | 'failed' | 'not-completing';

export interface FinalizeOptions {
  /** OK scans kept per share; older ones expire and their partitions are dropped. */
  keepScans: number;
  /** Memory for the index build and the folder aggregation of one scan, in MiB. */
  memoryMb: number;
}

/** Longest wait for the lock that dropping a partition needs on `file`; retention tries again later. */
const DROP_LOCK_TIMEOUT = '3s';

interface FolderProblem {
  kind: 'HASH_COLLISION' | 'NOT_CANONICAL';
  dir_path: string;
  other_path: string | null;
}

interface FolderResult {
  dirs: number;
  files: number;
  bytes: number;
  new_dirs: number;
  problems: FolderProblem[];
}

/** A finished scan whose rows cannot be stored as they are; the scan fails with this message. */
class ScanRejected extends Error {
  override name = 'ScanRejected';
}

interface ScanToFinish {
  share_name: string;
  path_style: string;
}

/**
 * Close a COMPLETING scan. Every chunk was stored when it was received, so nothing
 * waits for other jobs. Two steps run at once, each in its own transaction, because
 * each keeps one core busy: one builds the partition's unique index (removing files
 * listed twice, and adding their number to the scan's duplicate count), the other
 * groups the rows by folder and adds the share's new folders. A last transaction marks
 * the scan OK with its totals. Each step can run again after a crash: the index is
 * made only if missing, and folders already stored are skipped.
 *
 * A scan whose folder paths are not canonical, or collide by hash, is marked FAILED
 * with the reason and its partition dropped. A scan that is no longer COMPLETING is
 * left alone, so a repeated job is harmless.
 */
export async function finalizeScan(
  pool: pg.Pool,
  tenant: TenantRef,
  job: FinalizeJob,
  log: Logger,
  options: FinalizeOptions,
): Promise<FinalizeOutcome> {
  const scan = await withTenant(pool, tenant, Roles.ingest, async (client) => {
    const { rows } = await client.query<ScanToFinish & { status: string }>(
      'SELECT status, share_name, path_style FROM scan WHERE scan_id = $1',
      [job.scanId],
    );
    return rows[0]?.status === 'COMPLETING' ? rows[0] : undefined;
  });
  if (!scan) return 'not-completing';

  const started = performance.now();
  const timed = async <T>(step: Promise<T>): Promise<{ value: T; ms: number }> => ({ value: await step, ms: Math.round(performance.now() - started) });
  const [indexed, grouped] = await Promise.allSettled([
    timed(indexPartition(pool, tenant, job.scanId, options)),
    timed(addFolders(pool, tenant, job.scanId, scan, options)),
  ]);
  if (indexed.status === 'rejected') throw indexed.reason;
  if (grouped.status === 'rejected') {
    if (!(grouped.reason instanceof ScanRejected)) throw grouped.reason;
    await failScan(pool, tenant, job.scanId, grouped.reason.message, log);
    return 'failed';
  }

  const folders = grouped.value.value;
  const finished = await markOk(pool, tenant, job.scanId, folders);
  if (!finished) return 'not-completing';
  log.info(
    {
      files: finished.files,
      dirs: Number(folders.dirs),
      newDirs: Number(folders.new_dirs),
      duplicates: finished.duplicates,
      indexMs: indexed.value.ms,
      foldersMs: grouped.value.ms,
      totalMs: Math.round(performance.now() - started),
    },
    'scan finished',
  );

  await expireOldScans(pool, tenant, scan.share_name, options.keepScans, log);
  return 'finished';
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

/** Group the scan's rows by folder and add the share's new folders; reject the scan on a folder problem. */
async function addFolders(pool: pg.Pool, tenant: TenantRef, scanId: number, scan: ScanToFinish, options: FinalizeOptions): Promise<FolderResult> {
  return withTenant(pool, tenant, Roles.ingest, async (client) => {
    // One scan of a share adds folders at a time, so folders found missing can be
    // inserted without ON CONFLICT, which costs several times a plain insert.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`strata.finalize:${tenant.id}:${scan.share_name}`]);

    // With the default 4 MB the grouping of a million rows spills in dozens of batches.
    // `dir` may have no statistics yet; hash joins suit every size here, and a
    // mis-estimated nested loop would not.
    await client.query("SELECT set_config('work_mem', $1, true)", [`${options.memoryMb}MB`]);
    await client.query('SET LOCAL enable_nestloop = off');

    const folders = await client.query<FolderResult>(FINISH_SCAN_FOLDERS, [scanId, scan.share_name, scan.path_style, tenant.id]);
    const result = folders.rows[0]!;
    if (result.problems.length > 0) throw new ScanRejected(describeProblems(result.problems, scan.share_name));
    return result;
  });
}

/**
 * Mark the scan OK with its totals. The folder step may have counted rows that the
 * index step removed as duplicates; only then are the totals read again.
 */
async function markOk(
  pool: pg.Pool,
  tenant: TenantRef,
  scanId: number,
  folders: FolderResult,
): Promise<{ files: number; duplicates: number } | undefined> {
  return withTenant(pool, tenant, Roles.ingest, async (client) => {
    const locked = await client.query<{ status: string; duplicate_count: string | null }>(
      'SELECT status, duplicate_count FROM scan WHERE scan_id = $1 FOR UPDATE',
      [scanId],
    );
    const scan = locked.rows[0];
    if (scan?.status !== 'COMPLETING') return undefined;

    const duplicates = Number(scan.duplicate_count ?? 0);
    let totals = { files: Number(folders.files), bytes: Number(folders.bytes) };
    if (duplicates > 0) {
      const { rows } = await client.query<{ files: string; bytes: string }>(
        'SELECT count(*) AS files, coalesce(sum(size_bytes), 0) AS bytes FROM file WHERE scan_id = $1',
        [scanId],
      );
      totals = { files: Number(rows[0]!.files), bytes: Number(rows[0]!.bytes) };
    }

    await client.query(
      `UPDATE scan SET status = 'OK', finished_at = extract(epoch from now())::bigint,
              file_count = $2, duplicate_count = $3, dir_count = $4, total_bytes = $5
        WHERE scan_id = $1`,
      [scanId, totals.files, duplicates, folders.dirs, totals.bytes],
    );
    await client.query(
      `INSERT INTO audit_log (actor, action, details)
       SELECT 'ingest', 'scan.finished', jsonb_build_object('scanGuid', scan_guid, 'files', file_count, 'bytes', total_bytes)
         FROM scan WHERE scan_id = $1`,
      [scanId],
    );
    return { files: totals.files, duplicates };
  });
}

function describeProblems(problems: FolderProblem[], share: string): string {
  const first = problems[0]!;
  if (first.kind === 'HASH_COLLISION') {
    return `folders ${JSON.stringify(first.dir_path)} and ${JSON.stringify(first.other_path)} of share ${share} have the same 64-bit hash; the scan cannot be stored`;
  }
  const paths = problems.filter((problem) => problem.kind === 'NOT_CANONICAL').map((problem) => JSON.stringify(problem.dir_path));
  return (
    `folder path(s) ${paths.join(', ')} are not canonical for the scan's path style: dir_path must be absolute ` +
    '(C:\\x or \\\\server\\share\\x on Windows, /x on POSIX), without a trailing separator, "." or ".." segments, or doubled separators'
  );
}

/**
 * Mark the scan FAILED with its reason and drop its rows in one transaction; no plan
 * ever reads a failed scan. When the drop cannot get its lock in time, nothing changes
 * and the job fails, so pg-boss runs it again later.
 */
async function failScan(pool: pg.Pool, tenant: TenantRef, scanId: number, reason: string, log: Logger): Promise<void> {
  await withTenant(pool, tenant, Roles.ingest, async (client) => {
    await client.query(`SET LOCAL lock_timeout = '${DROP_LOCK_TIMEOUT}'`);
    await client.query(
      `UPDATE scan SET status = 'FAILED', error = $2, finished_at = extract(epoch from now())::bigint
        WHERE scan_id = $1 AND status = 'COMPLETING'`,
      [scanId, reason],
    );
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ('ingest', 'scan.failed', $1)", [{ scanId, reason }]);
    await client.query('SELECT drop_scan_partition($1)', [scanId]);
  });
  log.warn({ reason }, 'scan failed at finalisation');
}

/**
 * Expire the share's OK scans beyond the newest `keep`, one transaction each: the scan
 * becomes EXPIRED and its partition is dropped, which frees its rows at once instead
 * of a long DELETE. When the drop cannot get its lock quickly (a long read of `file`
 * is running), that scan stays OK and the next finished scan of the share tries again.
 */
async function expireOldScans(pool: pg.Pool, tenant: TenantRef, share: string, keep: number, log: Logger): Promise<void> {
  const expired = await withTenant(pool, tenant, Roles.ingest, async (client) => {
    const { rows } = await client.query<{ scan_id: number }>(SCANS_TO_EXPIRE, [share, keep]);
    return rows.map((row) => row.scan_id);
  });

  for (const scanId of expired) {
    try {
      await withTenant(pool, tenant, Roles.ingest, async (client) => {
        await client.query(`SET LOCAL lock_timeout = '${DROP_LOCK_TIMEOUT}'`);
        await client.query(
          "UPDATE scan SET status = 'EXPIRED', expired_at = extract(epoch from now())::bigint WHERE scan_id = $1 AND status = 'OK'",
          [scanId],
        );
        await client.query('SELECT drop_scan_partition($1)', [scanId]);
      });
      log.info({ expiredScanId: scanId, share }, 'scan expired by retention');
    } catch (error) {
      if (sqlStateOf(error) !== SqlState.lockNotAvailable) throw error;
      log.warn({ expiredScanId: scanId, share }, 'scan not expired yet: its partition is in use; the next finished scan retries');
    }
  }
}
