import type pg from 'pg';
import { tier2SharePrefix } from '../acting/tier2Key.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import type { Tier2Store } from '../tier2/tier2Store.ts';
import { insertObjects, markComplete, rejectEmptyInventory, toView, type InventoryRow, type InventoryView } from './inventoryRuns.ts';

/** Payload of a `tier2.inventory` job: list one share's Tier-2 target into one inventory run. */
export interface InventoryJob {
  tenantId: string;
  inventoryGuid: string;
}

/**
 * List a share's objects (its key prefix) in its Tier-2 target into a RUNNING
 * server-side inventory, page by page. Each
 * page's objects and the continuation token after it are stored in one transaction,
 * so a job retried after a crash resumes after the last stored page and stores no
 * object twice. The last page marks the run COMPLETE.
 */
export async function listInventory(
  pool: pg.Pool,
  tenant: TenantRef,
  inventoryGuid: string,
  store: Tier2Store,
  options: { pageSize: number; log: Logger },
): Promise<InventoryView> {
  for (;;) {
    const run = await readRunState(pool, tenant, inventoryGuid);
    if (run.status !== 'RUNNING') return toView(run);

    const started = run.pages === '0' ? null : run.next_token;
    const page = await store.list(tier2SharePrefix(run.share_name), started, options.pageSize);
    // A listing whose first page is also its last and empty found nothing at all.
    if (page.nextToken === null && page.objects.length === 0 && run.pages === '0') {
      await rejectEmptyInventory(pool, tenant, Number(run.inventory_id));
    }

    const stored = await withTenant(pool, tenant, Roles.sanitizer, async (client) => {
      // The token guard makes a second worker listing the same run at once lose the race
      // instead of storing a page twice.
      const claimed = await client.query(
        `UPDATE inventory_run SET next_token = $2, pages = pages + 1
          WHERE inventory_id = $1 AND status = 'RUNNING' AND pages = $3 AND next_token IS NOT DISTINCT FROM $4
          RETURNING inventory_id`,
        [run.inventory_id, page.nextToken, run.pages, run.next_token],
      );
      if (claimed.rowCount === 0) return false;

      const added = await insertObjects(client, Number(run.inventory_id), page.objects);
      await client.query('UPDATE inventory_run SET object_count = object_count + $2, total_bytes = total_bytes + $3 WHERE inventory_id = $1', [
        run.inventory_id,
        added.objects,
        added.bytes,
      ]);
      if (page.nextToken === null) await markComplete(client, Number(run.inventory_id));
      return true;
    });

    options.log.debug({ inventoryGuid, page: Number(run.pages) + 1, objects: page.objects.length, stored }, 'inventory page listed');
  }
}

async function readRunState(pool: pg.Pool, tenant: TenantRef, inventoryGuid: string): Promise<InventoryRow> {
  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    const { rows } = await client.query<InventoryRow>(
      `SELECT inventory_id, inventory_guid, share_name, source, status, object_count, total_bytes, pages, next_token
         FROM inventory_run WHERE inventory_guid = $1`,
      [inventoryGuid],
    );
    if (!rows[0]) throw new Error(`inventory ${inventoryGuid} not found`);
    return rows[0];
  });
}
