/**
 * The latest COMPLETE Tier-2 inventory of each share, or of the share in `$1` (NULL for
 * all). Objects it does not list are gone from Tier-2.
 */
export const LATEST_INVENTORIES = `
  SELECT DISTINCT ON (share_name) inventory_id, share_name, started_at
    FROM inventory_run
   WHERE status = 'COMPLETE' AND ($1::text IS NULL OR share_name = $1::text)
   ORDER BY share_name, completed_at DESC, inventory_id DESC`;
