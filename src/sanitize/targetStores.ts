import type { Services } from '../services.ts';
import type { Tier2StoreResolver } from './storeResolver.ts';

/**
 * Open each share's Tier-2 store from the share's configured target.
 * TODO: read the target with the acting stage's loadTarget once share targets exist;
 * until then every inventory and remediation job fails and is retried.
 */
export function targetStores(_services: Services): Tier2StoreResolver {
  return async (tenant, share) => {
    throw new Error(`share ${share} of tenant ${tenant.code} has no Tier-2 target configured`);
  };
}
