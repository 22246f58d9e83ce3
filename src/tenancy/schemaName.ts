import { InvalidTenantCodeError } from '../errors.ts';

/**
 * Tenant codes are 2 to 31 characters: a lowercase letter, then lowercase letters,
 * digits or underscores. With the `t_` prefix the schema name stays within
 * PostgreSQL's 63-byte identifier limit and never needs case folding or escapes.
 */
const TENANT_CODE = /^[a-z][a-z0-9_]{1,30}$/;

export function assertTenantCode(code: string): void {
  if (!TENANT_CODE.test(code)) throw new InvalidTenantCodeError(code);
}

/** Return the schema that contains a tenant's data. */
export function schemaNameFor(code: string): string {
  assertTenantCode(code);
  return `t_${code}`;
}
