import type pg from 'pg';
import type { PathStyle } from '../ingest/folderPaths.ts';
import { normalizeStorePrefix } from '../tier2/objectKeys.ts';
import { tier2KeyFor, UnmappableFileError } from './tier2Key.ts';

/** S3's limit on a whole object key, prefix included, in UTF-8 bytes. */
const MAX_OBJECT_KEY_BYTES = 1024;

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
 * never moves an object that is already in Tier-2. The full key is stored as well
 * when the key had to be shortened.
 *
 * A file the mapping rejects (a name not valid for its path style, a key too long even
 * hashed) is marked FAILED with the reason, in the same transaction, and its id is
 * returned so the claim leaves it out.
 */
export async function assignTier2Keys(client: pg.ClientBase, rows: KeyInput[]): Promise<Set<string>> {
  const keyed: { id: string; key: string; fullKey: string | null }[] = [];
  const failed: { id: string; error: string }[] = [];
  const missing = rows.filter((row) => row.tier2Key === null);
  if (missing.length === 0) return new Set();
  const maxKeyBytes = await keyBudget(client, missing[0]!.share);

  for (const row of missing) {
    const pathStyle: PathStyle = row.dirPath.startsWith('/') ? 'posix' : 'windows';
    try {
      const mapped = tier2KeyFor({ shareName: row.share, pathStyle, dirPath: row.dirPath, name: row.name }, { maxKeyBytes });
      row.tier2Key = mapped.key;
      keyed.push({ id: row.id, key: mapped.key, fullKey: mapped.hashed ? mapped.fullKey : null });
    } catch (error) {
      if (!(error instanceof UnmappableFileError)) throw error;
      failed.push({ id: row.id, error: `no Tier-2 key: ${error.message}` });
    }
  }

  if (keyed.length > 0) {
    await client.query(
      `UPDATE tier_object t SET tier2_key = k.key, tier2_full_key = k.full_key
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k(id, key, full_key)
        WHERE t.tier_id = k.id AND t.tier2_key IS NULL`,
      [keyed.map((row) => row.id), keyed.map((row) => row.key), keyed.map((row) => row.fullKey)],
    );
  }
  if (failed.length > 0) {
    await client.query(
      `UPDATE tier_object t SET state = 'FAILED', last_error = f.error, lease_expires_at = NULL
         FROM unnest($1::bigint[], $2::text[]) AS f(id, error)
        WHERE t.tier_id = f.id`,
      [failed.map((row) => row.id), failed.map((row) => row.error)],
    );
  }
  return new Set(failed.map((row) => row.id));
}

/**
 * Bytes a key may use: S3's 1,024-byte limit less the target's key prefix, which the
 * store puts in front of every key. A share without a target yet gets the whole limit.
 * NOTE: a prefix added to the target after objects were keyed does not shorten their
 * stored keys.
 */
async function keyBudget(client: pg.ClientBase, share: string): Promise<number> {
  const { rows } = await client.query<{ prefix: string | null }>(
    "SELECT settings->>'prefix' AS prefix FROM tier_target WHERE share_name = $1",
    [share],
  );
  const prefix = normalizeStorePrefix(rows[0]?.prefix ?? undefined);
  return MAX_OBJECT_KEY_BYTES - Buffer.byteLength(prefix, 'utf8');
}
