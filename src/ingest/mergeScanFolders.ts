import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import { ADD_STAGED_FOLDERS, ADD_STAGED_FOLDERS_AFTER_RACE, FOLDER_COLLISION } from './sql/scanFolders.ts';

/** The outcome of adding a scan's folders to `dir`: how many were added, or the collision found. */
export type FolderMerge = { added: number } | { collision: string };

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
 */
export async function mergeScanFolders(
  pool: pg.Pool,
  tenant: TenantRef,
  scanId: number,
  share: string,
  memoryMb: number,
): Promise<FolderMerge> {
  try {
    return await withTenant(pool, tenant, Roles.ingest, async (client) => {
      // The staged partition has no statistics yet, so the planner takes it for a few
      // rows and probes dir once per folder. Hash and merge joins over the share's
      // folders cost a fraction of that for a scan's worth.
      await client.query("SELECT set_config('work_mem', $1, true), set_config('enable_nestloop', 'off', true)", [`${memoryMb}MB`]);

      // NOTE: the staged folders and `dir` are read under RLS, whose predicate runs per row.
      // On a 5M-row first scan this merge was the longest finalisation step (about 7 s).
      const added = await addStagedFolders(client, tenant.id, share, scanId);
      const collision = await client.query<{ path: string; other: string }>(FOLDER_COLLISION, [share, scanId]);
      if (collision.rows[0]) throw new CollisionFound(describe(share, collision.rows[0]));
      return { added };
    });
  } catch (error) {
    if (error instanceof CollisionFound) return { collision: error.description };
    throw error;
  }
}

function describe(share: string, pair: { path: string; other: string }): string {
  return `folders ${JSON.stringify(pair.path)} and ${JSON.stringify(pair.other)} of share ${share} have the same 64-bit hash; the scan cannot be stored`;
}

/** Insert the scan's new folders, or the rest of them when another scan of the share added some first. */
async function addStagedFolders(client: pg.PoolClient, tenantId: string, share: string, scanId: number): Promise<number> {
  await client.query('SAVEPOINT staged_folders');
  try {
    const inserted = await client.query(ADD_STAGED_FOLDERS, [tenantId, share, scanId]);
    await client.query('RELEASE SAVEPOINT staged_folders');
    return inserted.rowCount ?? 0;
  } catch (error) {
    if (sqlStateOf(error) !== SqlState.uniqueViolation) throw error;
    await client.query('ROLLBACK TO SAVEPOINT staged_folders');
  }
  const inserted = await client.query(ADD_STAGED_FOLDERS_AFTER_RACE, [tenantId, share, scanId]);
  return inserted.rowCount ?? 0;
}
