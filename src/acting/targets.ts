import type pg from 'pg';
import { Roles, type FunctionRole } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';
import { sealSecret } from '../keys/envelope.ts';
import type { TenantDeks } from '../keys/tenantDeks.ts';
import { CREDENTIAL_FIELDS, type TargetConfig } from '../tier2/targetConfig.ts';
import { assertTargetShareName, validTargetConfig } from './targetConfigSchema.ts';

/** Dependencies of the target functions: a pool and the tenants' data keys (a `Services` fits). */
export interface TargetDeps {
  pool: pg.Pool;
  deks: Pick<TenantDeks, 'withDek' | 'openSealed'>;
}

/** A share's target as it may be shown: settings in clear, credentials only as set or not. */
export interface TargetSummary {
  shareName: string;
  kind: TargetConfig['kind'];
  settings: Record<string, unknown>;
  credentials: 'set' | 'not set';
  createdAt: Date;
  updatedAt: Date;
}

/**
 * The sealed plaintext: the credentials together with the share and kind they belong
 * to, so a sealed value copied to another share's row is rejected when it is opened.
 * The envelope's associated data already binds it to the tenant.
 */
interface SealedCredentials {
  shareName: string;
  kind: TargetConfig['kind'];
  credentials: Record<string, string>;
}

/** Options of a target change. */
export interface TargetChangeOptions {
  /**
   * Change or remove a target that objects of the share are stubbed on or in flight to,
   * after the operator moved those objects to the new place themselves.
   */
  force?: boolean;
}

/**
 * Set (create or replace) the Tier-2 target of a share. The credentials are sealed with
 * the tenant's data key before the transaction starts, so no transaction waits on the
 * key provider. The row and its audit record commit together. Replacing the place of a
 * target in use is rejected unless forced (rejectMoveInUse); new credentials alone are
 * always accepted.
 */
export async function setTarget(
  deps: TargetDeps,
  tenant: TenantRef,
  shareName: string,
  input: unknown,
  actor: string,
  options: TargetChangeOptions = {},
): Promise<{ created: boolean }> {
  assertTargetShareName(shareName);
  const config = validTargetConfig(input);
  const { settings, credentials } = splitConfig(config);

  const sealed = Object.keys(credentials).length === 0 ? null : await seal(deps, tenant, { shareName, kind: config.kind, credentials });

  return withTenant(deps.pool, tenant, Roles.planner, async (client) => {
    if (config.kind === 'fs') {
      rejectDoubleSlash(config.root);
      rejectDotSegments(config.root);
      await rejectRootInsideShare(client, shareName, config.root);
    }
    const { rows: current } = await client.query<{ kind: string; settings: Record<string, unknown> }>(
      'SELECT kind, settings FROM tier_target WHERE share_name = $1 FOR UPDATE',
      [shareName],
    );
    const moved = current[0] !== undefined && placeOf(current[0].kind, current[0].settings) !== placeOf(config.kind, settings);
    if (moved && !options.force) await rejectMoveInUse(client, shareName, 'replace');

    const { rows } = await client.query<{ created: boolean }>(
      `INSERT INTO tier_target (share_name, kind, settings, credentials_sealed)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (share_name) DO UPDATE
         SET kind = excluded.kind, settings = excluded.settings, credentials_sealed = excluded.credentials_sealed,
             updated_at = extract(epoch from now())::bigint
       RETURNING (xmax = 0) AS created`,
      [shareName, config.kind, settings, sealed],
    );
    const created = rows[0]!.created;
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'tier_target.set', $2)", [
      actor,
      { share: shareName, kind: config.kind, settings, credentials: sealed ? 'set' : 'not set', created, ...(moved && options.force ? { forced: true } : {}) },
    ]);
    return { created };
  });
}

/**
 * Reject a root that starts with `//`. Windows reads it as a UNC path and Linux as a
 * POSIX one, so the overlap check and the planner could not tell which folder it names.
 */
function rejectDoubleSlash(root: string): void {
  if (root.startsWith('//')) {
    throw StrataError.invalid(
      'INVALID_TARGET',
      `target is invalid: root ${JSON.stringify(root)} starts with "//", which Windows reads as a UNC path and Linux as a POSIX path; ` +
        'write a UNC path with backslashes (\\\\server\\share\\folder) or a POSIX path with one leading "/"',
    );
  }
}

/**
 * Reject a filesystem root with a `.` or `..` segment. The overlap test compares path
 * prefixes, so `/srv/x/../share/tier2` would pass it while naming a folder in `/srv/share`.
 */
function rejectDotSegments(root: string): void {
  const windows = /^[A-Za-z]:[\\/]|^\\\\/.test(root);
  const segments = windows ? root.split(/[\\/]/) : root.split('/');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    throw StrataError.invalid(
      'INVALID_TARGET',
      `target is invalid: root ${JSON.stringify(root)} contains a "." or ".." segment; give the folder's absolute path without them`,
    );
  }
}

/**
 * Reject a filesystem target that lies inside a folder any share of the tenant was
 * scanned from, or contains one. Its objects would then be scanned and planned as that
 * share's files, and tiering them would stub the only copies of files already tiered.
 * A share scanned only later is covered by the planner, which never selects files
 * under a Tier-2 root (effectivePolicies.ts).
 */
async function rejectRootInsideShare(client: pg.PoolClient, shareName: string, root: string): Promise<void> {
  const { rows } = await client.query<{ share_name: string; root_path: string }>(
    'SELECT DISTINCT share_name, root_path FROM scan ORDER BY share_name, root_path',
  );
  const target = comparablePath(root);

  for (const { share_name, root_path } of rows) {
    const scanned = comparablePath(root_path);
    if (target.startsWith(scanned) || scanned.startsWith(target)) {
      const owner = share_name === shareName ? `share ${JSON.stringify(shareName)}` : `share ${JSON.stringify(share_name)} (not the share being set)`;
      throw StrataError.invalid(
        'INVALID_TARGET',
        `target is invalid: root ${JSON.stringify(root)} overlaps the folder ${JSON.stringify(root_path)} that ${owner} is scanned from; put Tier-2 outside every share`,
      );
    }
  }
}

/** Rewrite a path with `/` separators and a trailing `/`, lower-cased when it is a Windows path, for prefix tests. */
function comparablePath(text: string): string {
  const windows = /^[A-Za-z]:[\\/]|^\\\\/.test(text);
  const slashed = windows ? text.replaceAll('\\', '/').toLowerCase() : text;
  return slashed.endsWith('/') ? slashed : `${slashed}/`;
}

/** List the tenant's targets by share name, without credentials. */
export async function listTargets(pool: pg.Pool, tenant: TenantRef, role: FunctionRole = Roles.planner): Promise<TargetSummary[]> {
  return withTenant(pool, tenant, role, async (client) => {
    const { rows } = await client.query<{ share_name: string; kind: TargetConfig['kind']; settings: Record<string, unknown>; has_credentials: boolean; created_at: string; updated_at: string }>(
      `SELECT share_name, kind, settings, credentials_sealed IS NOT NULL AS has_credentials, created_at, updated_at
         FROM tier_target ORDER BY share_name`,
    );
    return rows.map((row) => ({
      shareName: row.share_name,
      kind: row.kind,
      settings: row.settings,
      credentials: row.has_credentials ? 'set' : 'not set',
      createdAt: new Date(Number(row.created_at) * 1000),
      updatedAt: new Date(Number(row.updated_at) * 1000),
    }));
  });
}

/** Remove a share's target; returns false when it had none. Objects already on Tier-2 stay. */
export async function removeTarget(pool: pg.Pool, tenant: TenantRef, shareName: string, actor: string, options: TargetChangeOptions = {}): Promise<boolean> {
  return withTenant(pool, tenant, Roles.planner, async (client) => {
    const { rows: current } = await client.query('SELECT 1 FROM tier_target WHERE share_name = $1 FOR UPDATE', [shareName]);
    if (current.length > 0 && !options.force) await rejectMoveInUse(client, shareName, 'remove');

    const { rows } = await client.query<{ kind: string }>('DELETE FROM tier_target WHERE share_name = $1 RETURNING kind', [shareName]);
    if (rows.length === 0) return false;
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'tier_target.removed', $2)", [
      actor,
      { share: shareName, kind: rows[0]!.kind, ...(options.force ? { forced: true } : {}) },
    ]);
    return true;
  });
}

/**
 * Reject replacing or removing the target of a share whose files are stubbed on it, or
 * being copied to or recalled from it. A stub names only the object's kind and key, so
 * after the move every recall of those files would look in the wrong place.
 */
async function rejectMoveInUse(client: pg.PoolClient, shareName: string, change: 'replace' | 'remove'): Promise<void> {
  const { rows } = await client.query<{ state: string; count: number }>(
    `SELECT state, count(*)::int AS count FROM tier_object
      WHERE share_name = $1 AND state IN ('STUBBED', 'IN_PROGRESS', 'RECALLING')
      GROUP BY state ORDER BY state`,
    [shareName],
  );
  if (rows.length === 0) return;

  const counts = rows.map((row) => `${row.count} ${row.state}`).join(', ');
  throw StrataError.conflict(
    'TARGET_IN_USE',
    `cannot ${change} the target of share ${JSON.stringify(shareName)}: ${counts} object(s) are on it, and their stubs would point to the wrong place; ` +
      `recall them first (strata-agent recall), or move the objects to the new place and repeat with --force. New credentials, an S3 region or path style need no --force`,
  );
}

/**
 * Describe where a target keeps its objects, leaving out how they are reached: an S3
 * region or path style, and credentials, may change while files are stubbed on it. A
 * trailing separator of a root or prefix is the same place, and so is a Windows root in
 * other case. The endpoint stays part of the place, because another endpoint may be
 * another service with a bucket of the same name.
 */
function placeOf(kind: string, settings: Record<string, unknown>): string {
  const text = (field: string): string => (typeof settings[field] === 'string' ? (settings[field] as string) : '');
  const prefix = text('prefix').replace(/^\/+|\/+$/g, '');
  if (kind === 'fs') {
    const root = text('root');
    const windows = /^[A-Za-z]:[\\/]|^\\\\/.test(root);
    // A root of "/" keeps its separator, which is all it has.
    let trimmed = root.replace(windows ? /[\\/]+$/ : /\/+$/, '');
    if (trimmed === '') trimmed = root;
    return JSON.stringify([kind, windows ? trimmed.toLowerCase() : trimmed]);
  }
  if (kind === 's3') return JSON.stringify([kind, text('endpoint').replace(/\/+$/, ''), text('bucket'), prefix]);
  return JSON.stringify([kind, text('accountUrl').replace(/\/+$/, ''), text('accountName'), text('container'), prefix]);
}

/**
 * Load a share's full target, credentials decrypted, to open its store with
 * `openTier2Store`; null when the share has none. For internal use only: never return
 * the result to a client or log it. `role` is the caller's function role.
 */
export async function loadTarget(deps: TargetDeps, tenant: TenantRef, shareName: string, role: FunctionRole = Roles.actor): Promise<TargetConfig | null> {
  const row = await withTenant(deps.pool, tenant, role, async (client) => {
    const { rows } = await client.query<{ kind: TargetConfig['kind']; settings: Record<string, unknown>; credentials_sealed: string | null }>(
      'SELECT kind, settings, credentials_sealed FROM tier_target WHERE share_name = $1',
      [shareName],
    );
    return rows[0];
  });
  if (!row) return null;

  let credentials: Record<string, string> = {};
  if (row.credentials_sealed) {
    const opened = await open(deps, tenant, row.credentials_sealed, shareName);
    if (opened.shareName !== shareName || opened.kind !== row.kind) {
      throw new StrataError('TARGET_CREDENTIALS_MISMATCH', `the credentials stored for share ${JSON.stringify(shareName)} were sealed for another share or kind; set the target again`, 500);
    }
    credentials = opened.credentials;
  }
  return validTargetConfig({ ...row.settings, ...credentials, kind: row.kind });
}

/** Split a config into its clear settings (without `kind`) and its credentials. */
function splitConfig(config: TargetConfig): { settings: Record<string, unknown>; credentials: Record<string, string> } {
  const secretFields: readonly string[] = CREDENTIAL_FIELDS[config.kind];
  const settings: Record<string, unknown> = {};
  const credentials: Record<string, string> = {};
  for (const [field, value] of Object.entries(config)) {
    if (field === 'kind' || value === undefined) continue;
    if (secretFields.includes(field)) credentials[field] = String(value);
    else settings[field] = value;
  }
  return { settings, credentials };
}

async function seal(deps: TargetDeps, tenant: TenantRef, value: SealedCredentials): Promise<string> {
  const plaintext = Buffer.from(JSON.stringify(value), 'utf8');
  try {
    return await deps.deks.withDek(tenant, (dek) => sealSecret(dek, tenant.id, plaintext));
  } finally {
    plaintext.fill(0);
  }
}

async function open(deps: TargetDeps, tenant: TenantRef, sealed: string, shareName: string): Promise<SealedCredentials> {
  // Only a failure to open is wrapped: a key provider's own errors (unavailable, sealed)
  // are StrataErrors and pass through unchanged so that callers can retry them.
  // openSealed also tries the pending data key while `strata keys rotate-dek` runs.
  let plaintext: Buffer;
  try {
    plaintext = await deps.deks.openSealed(tenant, sealed);
  } catch (error) {
    if (error instanceof StrataError) throw error;
    // A tenant imported from an export has a new data key, so its old sealed values fail here.
    throw new StrataError(
      'TARGET_CREDENTIALS_UNREADABLE',
      `the credentials stored for share ${JSON.stringify(shareName)} cannot be opened with tenant ${tenant.code}'s data key: ${(error as Error).message}; set the target again with \`strata target set\``,
      500,
      {},
      { cause: error },
    );
  }
  try {
    return JSON.parse(plaintext.toString('utf8')) as SealedCredentials;
  } finally {
    plaintext.fill(0);
  }
}
