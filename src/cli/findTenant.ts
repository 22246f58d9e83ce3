import { findTenantByCode, type TenantRecord } from '../control/tenants.ts';
import { StrataError } from '../errors.ts';
import type { Services } from '../services.ts';

/** Look a tenant up by the code given on the command line, or fail naming the code. */
export async function requireTenant(services: Services, code: string): Promise<TenantRecord> {
  const tenant = await findTenantByCode(services.pool, code);
  if (!tenant) throw new StrataError('NOT_FOUND', `tenant ${code} not found; see \`strata tenant list\``, 404);
  return tenant;
}
