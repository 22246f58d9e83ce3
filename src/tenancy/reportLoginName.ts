import { assertTenantCode } from './schemaName.ts';

/** Prefix of the per-tenant reporting logins; the tenant code follows it. */
export const REPORT_LOGIN_PREFIX = 'strata_report_';

/** Return the name of a tenant's reporting login, at most 45 characters. */
export function reportLoginName(code: string): string {
  assertTenantCode(code);
  return REPORT_LOGIN_PREFIX + code;
}
