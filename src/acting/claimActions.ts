import type pg from 'pg';
import type { ActingConfig } from '../config.ts';
import type { Principal } from '../control/authenticate.ts';
import { Roles } from '../db/roles.ts';
import { withTenant } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';
import type { ClaimedAction, ClaimRequest } from '../wire/acting.ts';
import { assignTier2Keys } from './assignTier2Keys.ts';
import { globToRegex } from './globPattern.ts';
import { CLAIM_RECALL, CLAIM_TIER, SHARE_PAUSE } from './sql/claimActions.ts';

interface ClaimRow {
  id: string;
  fence: string;
  lease_expires_at: number;
  dir_path: string;
  name: string;
  size_bytes: number;
  mtime_unix: number;
  frn: string | null;
  tier2_key: string | null;
  sha256: string | null;
}

/**
 * Lease up to `request.max` objects of one share to the calling agent: PLANNED ones
 * to tier, or STUBBED ones matching the pattern to recall. One claim is one claim
 * statement, one key update for objects claimed for the first time, and one audit row,
 * all in one transaction. A file without a valid Tier-2 key is marked FAILED instead of
 * handed out. A paused share rejects a tier claim with 409 SHARE_PAUSED; recalls go on.
 */
export async function claimActions(
  pool: pg.Pool,
  config: ActingConfig,
  principal: Principal,
  request: ClaimRequest,
): Promise<ClaimedAction[]> {
  const max = Math.min(request.max, config.maxClaim);
  const leaseSeconds = Math.min(request.leaseSeconds ?? config.defaultLeaseSeconds, config.maxLeaseSeconds);
  const now = Math.floor(Date.now() / 1000);

  return withTenant(pool, principal.tenant, Roles.actor, async (client) => {
    const params: unknown[] = [request.share, now, max, leaseSeconds, principal.tokenId];
    if (request.kind === 'recall') params.push(await recallPattern(client, request));
    const { rows } = await client.query<ClaimRow>(request.kind === 'tier' ? CLAIM_TIER : CLAIM_RECALL, params);

    if (rows.length === 0) {
      if (request.kind === 'tier') await rejectIfPaused(client, request.share);
      return [];
    }

    const keyed = rows.map((row) => ({ id: row.id, share: request.share, dirPath: row.dir_path, name: row.name, tier2Key: row.tier2_key }));
    const unmappable = await assignTier2Keys(client, keyed);

    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'action.claimed', $2)", [
      principal.tokenName,
      {
        tokenId: principal.tokenId,
        tokenName: principal.tokenName,
        share: request.share,
        kind: request.kind,
        leaseSeconds,
        ids: rows.filter((row) => !unmappable.has(row.id)).map((row) => row.id),
        unmappable: [...unmappable],
      },
    ]);

    const actions: ClaimedAction[] = [];
    rows.forEach((row, index) => {
      if (unmappable.has(row.id)) return;

      actions.push({
        id: row.id,
        fence: row.fence,
        kind: request.kind,
        leaseExpiresAt: row.lease_expires_at,
        leaseSeconds,
        dirPath: row.dir_path,
        name: row.name,
        sizeBytes: row.size_bytes,
        mtimeUnix: row.mtime_unix,
        fileId: row.frn,
        tier2Key: keyed[index]!.tier2Key!,
        sha256: request.kind === 'recall' ? row.sha256 : null,
      });
    });
    return actions;
  });
}

/** Translate the recall glob into a regular expression in the path style of the share's folders. */
async function recallPattern(client: pg.ClientBase, request: ClaimRequest): Promise<string> {
  const { rows } = await client.query<{ posix: boolean }>(
    "SELECT left(dir_path, 1) = '/' AS posix FROM dir WHERE share_name = $1 LIMIT 1",
    [request.share],
  );
  return globToRegex(request.pattern ?? '**', rows[0]?.posix ? 'posix' : 'windows');
}

async function rejectIfPaused(client: pg.ClientBase, share: string): Promise<void> {
  const { rows } = await client.query<{ paused_at: number; paused_reason: string | null }>(SHARE_PAUSE, [share]);
  const pause = rows[0];
  if (!pause) return;

  throw StrataError.conflict(
    'SHARE_PAUSED',
    `claims for share ${JSON.stringify(share)} are paused since ${new Date(pause.paused_at * 1000).toISOString()}: ` +
      `${pause.paused_reason ?? 'no reason recorded'}; an operator resumes them with \`strata act resume\``,
  );
}
