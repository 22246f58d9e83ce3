/**
 * Database roles. Tenant tables are owned by `owner`; each stage runs its tenant work
 * under one function role that owns nothing and cannot bypass row-level security.
 * Roles are cluster-wide in PostgreSQL, so one cluster's databases share them.
 *
 * The number of roles is fixed, whatever the number of tenants: every tenant schema
 * grants its privileges to these same roles when it is provisioned. Tenants are
 * kept apart by `search_path` and `app.tenant_id` inside each transaction, with RLS
 * behind them. The only per-tenant roles are the optional reporting logins made by
 * `strata tenant report-role` (see src/tenancy/reportRole.ts).
 */
export const Roles = {
  owner: 'strata_owner',
  /** Owns the tables that COPY loads into; the chunk receiver switches to it for the COPY statement only. */
  stager: 'strata_stager',
  api: 'strata_api',
  ingest: 'strata_ingest',
  planner: 'strata_planner',
  /** Agents' claims and results: reads scans, folders and files, moves tier objects through their states. */
  actor: 'strata_actor',
  /** Reconciliation: reads everything of a tenant; writes its findings and the audit log. */
  sanitizer: 'strata_sanitizer',
  /** Reads the reporting views only. */
  report: 'strata_report',
} as const;

export type FunctionRole = (typeof Roles)['api' | 'ingest' | 'planner' | 'actor' | 'sanitizer' | 'report'];

/** The roles that `withTenant` runs tenant work under, one per stage. */
export const FUNCTION_ROLES: readonly FunctionRole[] = [
  Roles.api,
  Roles.ingest,
  Roles.planner,
  Roles.actor,
  Roles.sanitizer,
  Roles.report,
];

/**
 * Every role the service's login switches to with `SET LOCAL ROLE`: the function roles
 * and the stager. The runtime login is a NOINHERIT member of exactly these.
 */
export const RUNTIME_ROLES: readonly string[] = [...FUNCTION_ROLES, Roles.stager];

/** Every cluster-wide role a Strata database needs; the control migrations create the missing ones. */
export const ALL_ROLES: readonly string[] = [Roles.owner, ...RUNTIME_ROLES];

/** The default name of the runtime login made by `strata db create-login-role`. */
export const DEFAULT_LOGIN_ROLE = 'strata_app';
