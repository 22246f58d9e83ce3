import type pg from 'pg';
import type { PathStyle } from './globPattern.ts';
import { tier2Key } from './tier2KeyPlaceholder.ts';

/** A claimed row as the claim statement returns it, before its key is known. */
export interface KeyInput {
  id: string;
  share: string;
  dirPath: string;
  name: string;
  tier2Key: string | null;
}

/**
 * Compute the Tier-2 key of each claimed row that has none yet and store it, in one
 * statement. A key is computed once: later claims of the same object (after a lease
 * expired, or for a recall) return the stored key, so a change to the key mapping
 * never moves an object that is already in Tier-2.
 */
export async function assignTier2Keys(client: pg.ClientBase, rows: KeyInput[]): Promise<void> {
  const missing = rows.filter((row) => row.tier2Key === null);
  if (missing.length === 0) return;

  for (const row of missing) {
    const style: PathStyle = row.dirPath.startsWith('/') ? 'posix' : 'windows';
    row.tier2Key = tier2Key(row.share, row.dirPath, row.name, style);
  }
  await client.query(
    `UPDATE tier_object t SET tier2_key = k.key
       FROM unnest($1::bigint[], $2::text[]) AS k(id, key)
      WHERE t.tier_id = k.id AND t.tier2_key IS NULL`,
    [missing.map((row) => row.id), missing.map((row) => row.tier2Key)],
  );
}
