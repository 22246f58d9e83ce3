import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import {
  ADD_FIRST_FOLDERS,
  ADD_LISTED_FOLDERS,
  ADD_LISTED_FOLDERS_AFTER_RACE,
  ADD_STAGED_FOLDERS,
  ADD_STAGED_FOLDERS_AFTER_RACE,
  FOLDER_COLLISION,
  LISTED_FOLDER_COLLISION,
  PROBE_STAGED_FOLDERS,
} from './sql/scanFolders.ts';

/** The outcome of adding a scan's folders to `dir`: how many were added, or the collision found. */
export type FolderMerge = { added: number } | { collision: string };

/**
 * Maximum number of missing folders that the probe lists for an insert by hash. A scan
 * that adds more (a first scan, or a share that grew a lot) takes the anti-join over all
 * its folders.
 */
const MAX_LISTED_FOLDERS = 100_000;

/** A row of PROBE_STAGED_FOLDERS. */
interface Probe {
  missing: string;
  missing_hashes: string[] | null;
  collisions: [string, string][] | null;
}

/** An error raised inside the merge's transaction to undo its insert when a collision turns up. */
class CollisionFound extends Error {
  constructor(readonly description: string) {
    super(description);
  }
}

/**
 * Add the folders staged for a finished scan's chunks to `dir`, in one transaction. Two
 * different paths with one 64-bit hash undo it, whether both are in this scan or one
 * was stored before. The caller gets the collision back and fails the scan, because
 * filing one folder's files under the other would lose data silently. Repeating the
 * merge adds nothing.
 *
 * A share with stored folders is probed first: one join compares every staged folder
 * with `dir`. A rescan that adds no folder is done after it. One that adds at most
 * `maxListedFolders` inserts and checks only those, and one that adds more takes the
 * anti-join over all its folders. A first scan skips the probe, which would find every
 * folder missing, and inserts its folders with no check after it (ADD_FIRST_FOLDERS)
 * unless that insert fails on the key.
 */
export async function mergeScanFolders(
  pool: pg.Pool,
  tenant: TenantRef,
  scanId: number,
  share: string,
  memoryMb: number,
  maxListedFolders = MAX_LISTED_FOLDERS,
): Promise<FolderMerge> {
  try {
    return await withTenant(pool, tenant, Roles.ingest, async (client) => {
      // The staged partition has no statistics yet, so the planner takes it for a few
      // rows and probes dir once per folder. Hash and merge joins over the share's
      // folders cost a fraction of that for a scan's worth.
      await client.query("SELECT set_config('work_mem', $1, true), set_config('enable_nestloop', 'off', true)", [`${memoryMb}MB`]);

      const stored = await client.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM dir WHERE share_name = $1) AS any', [share]);
      if (stored.rows[0]!.any) {
        const probe = (await client.query<Probe>(PROBE_STAGED_FOLDERS, [share, scanId, maxListedFolders])).rows[0]!;
        const pair = probe.collisions?.[0];
        if (pair) throw new CollisionFound(describe(share, { path: pair[0], other: pair[1] }));

        const missing = Number(probe.missing);
        if (missing === 0) return { added: 0 };
        if (missing <= maxListedFolders) {
          const hashes = probe.missing_hashes ?? [];
          const added = await addFolders(client, [ADD_LISTED_FOLDERS, ADD_LISTED_FOLDERS_AFTER_RACE], [tenant.id, share, scanId, hashes]);
          await throwOnCollision(client, share, LISTED_FOLDER_COLLISION, [share, scanId, hashes]);
          return { added };
        }
      } else {
        // Undefined when two of its paths share a hash or another scan added one of its
        // hashes meanwhile. The general path below then finds which.
        const added = await insertUnlessDuplicate(client, ADD_FIRST_FOLDERS, [tenant.id, share, scanId]);
        if (added !== undefined) return { added };
      }

      const added = await addFolders(client, [ADD_STAGED_FOLDERS, ADD_STAGED_FOLDERS_AFTER_RACE], [tenant.id, share, scanId]);
      await throwOnCollision(client, share, FOLDER_COLLISION, [share, scanId]);
      return { added };
    });
  } catch (error) {
    if (error instanceof CollisionFound) return { collision: error.description };
    throw error;
  }
}

async function throwOnCollision(client: pg.PoolClient, share: string, sql: string, parameters: unknown[]): Promise<void> {
  const collision = await client.query<{ path: string; other: string }>(sql, parameters);
  if (collision.rows[0]) throw new CollisionFound(describe(share, collision.rows[0]));
}

function describe(share: string, pair: { path: string; other: string }): string {
  return `folders ${JSON.stringify(pair.path)} and ${JSON.stringify(pair.other)} of share ${share} have the same 64-bit hash; the scan cannot be stored`;
}

/**
 * Runs the insert `sql` in a savepoint and returns the rows it added, or undefined, with
 * nothing inserted, when it failed on a unique key.
 */
async function insertUnlessDuplicate(client: pg.PoolClient, sql: string, parameters: unknown[]): Promise<number | undefined> {
  await client.query('SAVEPOINT staged_folders');
  try {
    const inserted = await client.query(sql, parameters);
    await client.query('RELEASE SAVEPOINT staged_folders');
    return inserted.rowCount ?? 0;
  } catch (error) {
    if (sqlStateOf(error) !== SqlState.uniqueViolation) throw error;
    await client.query('ROLLBACK TO SAVEPOINT staged_folders');
    return undefined;
  }
}

/**
 * Insert the scan's new folders with `insert`, or the rest of them with `afterRace` when
 * another scan of the share added some first.
 */
async function addFolders(client: pg.PoolClient, [insert, afterRace]: [string, string], parameters: unknown[]): Promise<number> {
  const added = await insertUnlessDuplicate(client, insert, parameters);
  if (added !== undefined) return added;

  const inserted = await client.query(afterRace, parameters);
  return inserted.rowCount ?? 0;
}
