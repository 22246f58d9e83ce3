import { loadTarget, type TargetDeps } from '../acting/targets.ts';
import { Roles } from '../db/roles.ts';
import { openTier2Store } from '../tier2/openTier2Store.ts';
import type { Tier2StoreResolver } from './storeResolver.ts';

/** Open each share's Tier-2 store from the share's target, with its credentials unsealed in memory only. */
export function targetStores(deps: TargetDeps): Tier2StoreResolver {
  return async (tenant, share) => {
    const config = await loadTarget(deps, tenant, share, Roles.sanitizer);
    if (!config) {
      throw new Error(`share ${JSON.stringify(share)} of tenant ${tenant.code} has no Tier-2 target; set one with \`strata target set\``);
    }
    return openTier2Store(config);
  };
}
