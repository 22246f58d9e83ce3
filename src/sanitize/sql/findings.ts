import { LATEST_SCANS } from '../../planning/sql/latestScans.ts';
import { QUARANTINE_PREFIX } from '../findingKinds.ts';
import { LATEST_INVENTORIES } from './latestInventories.ts';
import { COPY_RECORDED, REFERENCING_STATES } from './tierStates.ts';

/*
 * One set-based statement per finding kind. Each inserts the findings of run `$2` for
 * the share in `$1` (NULL for all shares) and returns nothing. Tier-2 keys are compared
 * byte for byte (text equality in PostgreSQL is exact for deterministic collations),
 * so NFC and NFD spellings of a name are two keys.
 */

/** An inventory object `o` that is the Tier-2 object of tier object `t`; the hash lets the primary key be used. */
const SAME_KEY = `o.key_sha256 = sha256(convert_to(t.tier2_key, 'UTF8')) AND o.object_key = t.tier2_key`;

/**
 * A file row `f` that is the file of tier object `t`. A scan partition's unique key is
 * the folder hash and a hash of the name, so the name's hash lets the key find the row
 * instead of reading every file of the folder. Partitions keyed on the name itself
 * (finished before tenant migration T0016) use the name equality.
 */
const SAME_FILE = `f.dir_hash = t.dir_hash AND hashtextextended(f.name, 0) = hashtextextended(t.name, 0) AND f.name = t.name`;

/**
 * MISSING: a tier object whose content was copied (a stub refers to it, or a failed
 * attempt recorded the copy) but the latest complete inventory does not list its key.
 * Objects acted on after that inventory started are left out, because the listing may
 * have passed their key before they were written.
 */
export const INSERT_MISSING = `
  WITH inv AS (${LATEST_INVENTORIES})
  INSERT INTO sanitize_finding (run_id, kind, share_name, tier_id, tier_state, object_key, full_path, size_bytes)
  SELECT $2, 'MISSING', t.share_name, t.tier_id, t.state, t.tier2_key, t.full_path, t.size_bytes
    FROM tier_object t
    JOIN inv ON inv.share_name = t.share_name
   WHERE ${COPY_RECORDED('t')}
     AND t.tier2_key IS NOT NULL
     AND coalesce(t.acted_at, 0) < inv.started_at
     AND NOT EXISTS (SELECT 1 FROM tier2_inventory o WHERE o.inventory_id = inv.inventory_id AND ${SAME_KEY})`;

/**
 * ORPHAN: an object in the latest complete inventory that no plan or stub refers to.
 * Quarantined objects are left out.
 */
export const INSERT_ORPHAN = `
  WITH inv AS (${LATEST_INVENTORIES})
  INSERT INTO sanitize_finding (run_id, kind, share_name, object_key, tier2_size_bytes)
  SELECT $2, 'ORPHAN', inv.share_name, o.object_key, o.size_bytes
    FROM inv
    JOIN tier2_inventory o ON o.inventory_id = inv.inventory_id
   WHERE NOT starts_with(o.object_key, '${QUARANTINE_PREFIX}')
     AND NOT EXISTS (
           SELECT 1 FROM tier_object t
            WHERE t.share_name = inv.share_name AND t.state IN ${REFERENCING_STATES} AND ${SAME_KEY})`;

/**
 * STALE: a planned or stubbed file that the share's latest OK scan shows used within
 * the share's policy threshold (the tenant's `*` policy, else `$4` seconds) before `$3`
 * (now, Unix seconds): the file is in use again. Its last use follows the policy's age
 * basis. As in planning, `auto` and `later` take the later of access and modification.
 */
export const INSERT_STALE = `
  WITH latest AS (${LATEST_SCANS})
  INSERT INTO sanitize_finding (run_id, kind, share_name, tier_id, tier_state, object_key, full_path, size_bytes, last_used_unix)
  SELECT $2, 'STALE', t.share_name, t.tier_id, t.state, t.tier2_key, t.full_path, t.size_bytes, u.last_used
    FROM tier_object t
    JOIN latest l ON l.share_name = t.share_name
    JOIN file f ON f.scan_id = l.scan_id AND ${SAME_FILE}
    LEFT JOIN tier_policy p ON p.share_name = t.share_name
    LEFT JOIN tier_policy d ON d.share_name = '*'
   CROSS JOIN LATERAL (
         SELECT CASE coalesce(p.age_basis, d.age_basis)
                  WHEN 'access' THEN f.atime_unix
                  WHEN 'modification' THEN f.mtime_unix
                  ELSE greatest(f.atime_unix, f.mtime_unix) END AS last_used) u
   WHERE t.state IN ('PLANNED', 'STUBBED')
     AND u.last_used > $3::bigint - coalesce(p.min_age_seconds, d.min_age_seconds, $4::bigint)`;

/** BROKEN_REF: a planned or stubbed file whose path the share's latest OK scan no longer lists. */
export const INSERT_BROKEN_REF = `
  WITH latest AS (${LATEST_SCANS})
  INSERT INTO sanitize_finding (run_id, kind, share_name, tier_id, tier_state, object_key, full_path, size_bytes)
  SELECT $2, 'BROKEN_REF', t.share_name, t.tier_id, t.state, t.tier2_key, t.full_path, t.size_bytes
    FROM tier_object t
    JOIN latest l ON l.share_name = t.share_name
   WHERE t.state IN ('PLANNED', 'STUBBED')
     AND NOT EXISTS (SELECT 1 FROM file f WHERE f.scan_id = l.scan_id AND ${SAME_FILE})`;

/** SIZE_MISMATCH: a copied file whose Tier-2 object, as inventoried, has another size than the file. */
export const INSERT_SIZE_MISMATCH = `
  WITH inv AS (${LATEST_INVENTORIES})
  INSERT INTO sanitize_finding (run_id, kind, share_name, tier_id, tier_state, object_key, full_path, size_bytes, tier2_size_bytes)
  SELECT $2, 'SIZE_MISMATCH', t.share_name, t.tier_id, t.state, t.tier2_key, t.full_path, t.size_bytes, o.size_bytes
    FROM tier_object t
    JOIN inv ON inv.share_name = t.share_name
    JOIN tier2_inventory o ON o.inventory_id = inv.inventory_id AND ${SAME_KEY}
   WHERE ${COPY_RECORDED('t')} AND o.size_bytes <> t.size_bytes`;

/**
 * The statements in the order reconciliation runs them. All take `$1` (share or NULL)
 * and `$2` (run id); those with `usesThreshold` also take `$3` (now) and `$4` (the
 * default threshold in seconds).
 */
export const FINDING_STATEMENTS = [
  { kind: 'MISSING', sql: INSERT_MISSING, usesThreshold: false },
  { kind: 'ORPHAN', sql: INSERT_ORPHAN, usesThreshold: false },
  { kind: 'STALE', sql: INSERT_STALE, usesThreshold: true },
  { kind: 'BROKEN_REF', sql: INSERT_BROKEN_REF, usesThreshold: false },
  { kind: 'SIZE_MISMATCH', sql: INSERT_SIZE_MISMATCH, usesThreshold: false },
] as const;
