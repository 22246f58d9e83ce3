import { Roles } from './roles.ts';

/**
 * The rules every relation in a tenant schema must follow, kept in one place. The
 * start-up self-check (src/db/selfCheck/) enforces them, and tests break them one at
 * a time.
 */

/** Name of the row-level security policy that every tenant table carries. */
export const TENANT_POLICY_NAME = 'tenant_isolation';

/**
 * The policy predicate: a row is visible when its `tenant_id` is the transaction's
 * tenant. An unset setting (NULL) or one emptied by an earlier transaction (`''`)
 * becomes NULL, which matches no row, without a cast error. The subquery makes
 * PostgreSQL read the setting once per query rather than once per row (tenant
 * migration T0014).
 */
export const TENANT_PREDICATE = "tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid)";

/**
 * TENANT_PREDICATE as `pg_get_expr` prints it on PostgreSQL 15, and the per-row form
 * that tables had before T0014 and that scan partitions still get. The self-check
 * compares every permissive policy with these, so a policy that lets more rows through
 * (an "empty means all" clause, say) is reported.
 */
export const TENANT_PREDICATE_DEPARSED = [
  `(tenant_id = ( SELECT (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid AS "nullif"))`,
  "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)",
] as const;

/** Tables in a tenant schema that hold no tenant rows: MikroORM's migration ledger. */
export const LEDGER_TABLES: readonly string[] = ['mikro_orm_migrations'];

/**
 * Protection a table in a tenant schema must have, chosen by its owner and name.
 *
 * - `forced`: owned by strata_owner; RLS enabled and forced, so it holds for the
 *   owner too, with the tenant policy.
 * - `stager`: owned by strata_stager, the one documented exception. PostgreSQL refuses
 *   `COPY FROM` into a table whose RLS applies to the loading role, so the role that
 *   runs the COPY owns the table and RLS cannot be forced. RLS is enabled with the
 *   tenant policy for every other role, and a CHECK constraint on `tenant_id` keeps
 *   another tenant's rows out of it.
 * - `ledger`: a table of LEDGER_TABLES owned by strata_owner, granted to no other role.
 */
export type TableRule = 'forced' | 'stager' | 'ledger';

/** Return the rule a table falls under, or undefined when its owner may not own tenant tables. */
export function tableRuleFor(owner: string, name: string): TableRule | undefined {
  if (owner === Roles.owner) return LEDGER_TABLES.includes(name) ? 'ledger' : 'forced';
  if (owner === Roles.stager) return 'stager';
  return undefined;
}

/** The owner every tenant schema must have. */
export const SCHEMA_OWNER = Roles.owner;

/**
 * Tenant schemas: those registered in `control.tenant`, and any schema whose name has
 * the tenant prefix `t_`, so that a schema left behind by a failed removal is checked too.
 */
export const TENANT_SCHEMA_PATTERN = 't\\_%';
