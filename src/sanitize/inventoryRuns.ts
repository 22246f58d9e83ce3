import { createHash } from 'node:crypto';
import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { Roles, type FunctionRole } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Tier2Object } from '../tier2/tier2Store.ts';

/** Complete inventories kept per share: the latest and the one before, for comparison. */
export const INVENTORIES_KEPT = 2;

export interface InventoryView {
  inventoryGuid: string;
  inventoryId: number;
  share: string;
  source: 'agent' | 'server';
  status: 'RUNNING' | 'COMPLETE' | 'FAILED';
  objectCount: number;
  totalBytes: number;
  pages: number;
}

export interface InventoryRow {
  inventory_id: string;
  inventory_guid: string;
  share_name: string;
  source: InventoryView['source'];
  status: InventoryView['status'];
  object_count: string;
  total_bytes: string;
  pages: string;
  next_token: string | null;
}

export function toView(row: InventoryRow): InventoryView {
  return {
    inventoryGuid: row.inventory_guid,
    inventoryId: Number(row.inventory_id),
    share: row.share_name,
    source: row.source,
    status: row.status,
    objectCount: Number(row.object_count),
    totalBytes: Number(row.total_bytes),
    pages: Number(row.pages),
  };
}

const SELECT_RUN = `
  SELECT inventory_id, inventory_guid, share_name, source, status, object_count, total_bytes, pages, next_token
    FROM inventory_run`;

/**
 * Open an inventory run, or return the one already opened under the same GUID. A
 * repeat naming another share or source is a conflict: the GUID belongs to another run.
 */
export async function openInventory(
  pool: pg.Pool,
  tenant: TenantRef,
  role: FunctionRole,
  request: { inventoryGuid: string; share: string; source: 'agent' | 'server'; openedBy: string },
): Promise<{ view: InventoryView; created: boolean }> {
  return withTenant(pool, tenant, role, async (client) => {
    const inserted = await client.query(
      `INSERT INTO inventory_run (inventory_guid, share_name, source, opened_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (inventory_guid) DO NOTHING`,
      [request.inventoryGuid, request.share, request.source, request.openedBy],
    );
    const row = await readRun(client, request.inventoryGuid);
    if (row.share_name !== request.share || row.source !== request.source) {
      throw StrataError.conflict('INVENTORY_GUID_REUSED', `inventory ${request.inventoryGuid} was opened for another share or source; use a new GUID`);
    }
    return { view: toView(row), created: inserted.rowCount === 1 };
  });
}

/** Describe one inventory run by its GUID. */
export async function getInventory(pool: pg.Pool, tenant: TenantRef, role: FunctionRole, inventoryGuid: string): Promise<InventoryView> {
  return withTenant(pool, tenant, role, async (client) => toView(await readRun(client, inventoryGuid)));
}

export async function readRun(client: pg.ClientBase, inventoryGuid: string, lock = false): Promise<InventoryRow> {
  const { rows } = await client.query<InventoryRow>(`${SELECT_RUN} WHERE inventory_guid = $1${lock ? ' FOR UPDATE' : ''}`, [inventoryGuid]);
  if (!rows[0]) throw StrataError.notFound(`inventory ${inventoryGuid}`);
  return rows[0];
}

/**
 * Store one batch of listed objects of a RUNNING inventory. An object listed twice (a
 * page repeated after a crash) is stored once. Returns how many objects were new.
 */
export async function insertObjects(client: pg.ClientBase, inventoryId: number, objects: Tier2Object[]): Promise<{ objects: number; bytes: number }> {
  if (objects.length === 0) return { objects: 0, bytes: 0 };

  const { rows } = await client.query<{ objects: string; bytes: string }>(
    `WITH added AS (
       INSERT INTO tier2_inventory (inventory_id, object_key, key_sha256, size_bytes, sha256, last_modified)
       SELECT $1, k, kh, s, h, m FROM unnest($2::text[], $6::bytea[], $3::bigint[], $4::text[], $5::bigint[]) AS o (k, kh, s, h, m)
       ON CONFLICT DO NOTHING
       RETURNING size_bytes)
     SELECT count(*) AS objects, coalesce(sum(size_bytes), 0) AS bytes FROM added`,
    [
      inventoryId,
      objects.map((object) => object.key),
      objects.map((object) => object.sizeBytes),
      objects.map((object) => object.sha256 ?? null),
      objects.map((object) => (object.lastModified ? Math.floor(object.lastModified.getTime() / 1000) : null)),
      objects.map((object) => keyDigest(object.key)),
    ],
  );
  return { objects: Number(rows[0]!.objects), bytes: Number(rows[0]!.bytes) };
}

/**
 * Mark a RUNNING inventory COMPLETE and drop the objects of the share's complete
 * inventories beyond the newest INVENTORIES_KEPT. Completing a complete run changes nothing.
 */
export async function markComplete(client: pg.ClientBase, inventoryId: number): Promise<void> {
  const done = await client.query(
    `UPDATE inventory_run SET status = 'COMPLETE', completed_at = extract(epoch from now())::bigint, next_token = NULL
      WHERE inventory_id = $1 AND status = 'RUNNING'
      RETURNING share_name`,
    [inventoryId],
  );
  if (done.rowCount === 0) return;

  await client.query(
    `DELETE FROM inventory_run
      WHERE share_name = $1 AND status = 'COMPLETE'
        AND inventory_id NOT IN (
              SELECT inventory_id FROM inventory_run
               WHERE share_name = $1 AND status = 'COMPLETE'
               ORDER BY completed_at DESC, inventory_id DESC
               LIMIT $2)`,
    [done.rows[0].share_name, INVENTORIES_KEPT],
  );
}

/**
 * Reject the completion of an inventory that found no object while the share has stubs. It is
 * almost always a listing of the wrong folder or an unmounted one, and as the latest
 * inventory it would report every stubbed file MISSING and every later object an orphan.
 */
export async function rejectEmptyInventory(pool: pg.Pool, tenant: TenantRef, inventoryId: number): Promise<void> {
  // As the sanitizer: the API's role, which receives an agent's inventory, cannot read tier objects.
  const { rows } = await withTenant(pool, tenant, Roles.sanitizer, (client) => client.query<{ share_name: string; objects: string; stubs: string }>(
    `SELECT r.share_name,
            (SELECT count(*) FROM tier2_inventory i WHERE i.inventory_id = r.inventory_id) AS objects,
            (SELECT count(*) FROM tier_object t WHERE t.share_name = r.share_name AND t.state IN ('STUBBED', 'RECALLING', 'LOST')) AS stubs
       FROM inventory_run r WHERE r.inventory_id = $1 AND r.status = 'RUNNING'`,
    [inventoryId],
  ));
  const run = rows[0];
  if (!run || Number(run.objects) > 0 || Number(run.stubs) === 0) return;
  throw StrataError.invalid(
    'INVENTORY_EMPTY',
    `the inventory of share ${JSON.stringify(run.share_name)} found no objects, but ${run.stubs} of its files are stubs whose content should be in Tier-2; check that the listed root is the share's target and is mounted, then run the inventory again`,
  );
}

/**
 * SHA-256 of a key's UTF-8 bytes, as stored in `tier2_inventory.key_sha256`; the same
 * as `sha256(convert_to(key, 'UTF8'))` in SQL. Keys are well-formed Unicode.
 */
export function keyDigest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}
