/**
 * Database roles. Tenant tables are owned by `owner`; each stage runs its tenant work
 * under one function role that owns nothing and cannot bypass row-level security.
 * Roles are cluster-wide in PostgreSQL, so one cluster's databases share them.
 */
export const Roles = {
  owner: 'strata_owner',
  /** Owns `staging_file` only; the chunk receiver switches to it for the COPY statement. */
  stager: 'strata_stager',
  api: 'strata_api',
  ingest: 'strata_ingest',
  planner: 'strata_planner',
} as const;

export type FunctionRole = (typeof Roles)['api' | 'ingest' | 'planner'];

export const FUNCTION_ROLES: readonly FunctionRole[] = [Roles.api, Roles.ingest, Roles.planner];
