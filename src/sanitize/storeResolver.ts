import type { TenantRef } from '../db/tenantContext.ts';
import type { Tier2Store } from '../tier2/tier2Store.ts';

/** Open the Tier-2 store of one share of a tenant, with its credentials unsealed in memory. */
export type Tier2StoreResolver = (tenant: TenantRef, share: string) => Promise<Tier2Store>;
