import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { ALL_ROLES, Roles, RUNTIME_ROLES } from '../db/roles.ts';
import { scramSha256Secret } from '../db/rolePassword.ts';
import { JOBS_SCHEMA } from '../jobs/queues.ts';

/** Names a login role may have: a lowercase identifier, so it never needs quoting in a connection string. */
const LOGIN_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Grants the runtime login has directly, outside any tenant transaction: reading the
 * tenant registry and the tokens to authenticate requests, and stamping a token's last
 * use. Tenant data is reached only through SET ROLE.
 */
const CONTROL_GRANTS = [
  'GRANT USAGE ON SCHEMA control TO %I',
  'GRANT SELECT ON control.tenant, control.api_token TO %I',
  'GRANT UPDATE (last_used_at) ON control.api_token TO %I',
];

export interface LoginRoleRequest {
  /** The login's name (default strata_app). */
  role: string;
  /** The password to set, or undefined to keep an existing login's password. */
  password?: string;
}

export interface LoginRoleResult {
  created: boolean;
  passwordSet: boolean;
  /** Function roles the login was made a member of by this run. */
  granted: string[];
  /** Memberships taken away because they let the login act as a table owner. */
  revoked: string[];
  /** Relations, functions and types of the jobs schema given to the login. */
  jobsObjectsAdopted: number;
}

/**
 * Create or update the runtime login that `strata api` and `strata worker` connect as:
 * LOGIN, NOINHERIT, not a superuser, no BYPASSRLS, CREATEDB, CREATEROLE or REPLICATION,
 * a member of every function role and of the stager (so it can SET ROLE to them but
 * has none of their privileges until it does), and of no role that owns tenant
 * tables. It may read the control registry and owns the pg-boss schema.
 *
 * Run it as the migration login (a superuser, or a role with CREATEROLE that is a
 * member of the pg-boss schema's owner) after `strata migrate`, and again after an
 * upgrade whose control migrations add tables. Everything happens in the caller's
 * transaction, and running it again changes nothing that is already right.
 */
export async function setUpLoginRole(client: pg.ClientBase, request: LoginRoleRequest): Promise<LoginRoleResult> {
  assertLoginName(request.role);
  const login = client.escapeIdentifier(request.role);
  const secret = request.password === undefined ? undefined : scramSha256Secret(request.password);
  await assertMigrated(client);

  const created = await createOrAlterLogin(client, request.role, secret);
  const granted = await grantRuntimeRoles(client, request.role);
  const revoked = await revokeOwnerRoles(client, request.role);

  const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
  await client.query(`GRANT CONNECT ON DATABASE ${client.escapeIdentifier(rows[0]!.db)} TO ${login}`);
  await grantControl(client, request.role);
  const jobsObjectsAdopted = await adoptJobsSchema(client, request.role);

  return { created, passwordSet: secret !== undefined, granted, revoked, jobsObjectsAdopted };
}

function assertLoginName(role: string): void {
  if (!LOGIN_NAME.test(role) || ALL_ROLES.includes(role) || role.startsWith('pg_')) {
    throw StrataError.invalid(
      'INVALID_ROLE_NAME',
      `login name ${JSON.stringify(role)} is invalid: use 1 to 63 lowercase letters, digits or underscores, not starting with pg_ or a digit, and not one of ${ALL_ROLES.join(', ')}`,
    );
  }
}

interface RoleAttributes {
  rolsuper: boolean;
  rolinherit: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolcanlogin: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
}

/**
 * Create the login, or alter only the attributes that differ: PostgreSQL lets a
 * CREATEROLE administrator name SUPERUSER, REPLICATION and BYPASSRLS in ALTER ROLE
 * only when it is a superuser, even to switch them off.
 */
async function createOrAlterLogin(client: pg.ClientBase, role: string, secret: string | undefined): Promise<boolean> {
  const login = client.escapeIdentifier(role);
  const password = secret === undefined ? '' : ` PASSWORD ${client.escapeLiteral(secret)}`;
  const { rows } = await client.query<RoleAttributes>(
    'SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1',
    [role],
  );

  const current = rows[0];
  if (!current) {
    await client.query(`CREATE ROLE ${login} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS${password}`);
    return true;
  }

  const changes = [
    current.rolsuper ? 'NOSUPERUSER' : '',
    current.rolinherit ? 'NOINHERIT' : '',
    current.rolcreaterole ? 'NOCREATEROLE' : '',
    current.rolcreatedb ? 'NOCREATEDB' : '',
    current.rolcanlogin ? '' : 'LOGIN',
    current.rolreplication ? 'NOREPLICATION' : '',
    current.rolbypassrls ? 'NOBYPASSRLS' : '',
  ].filter(Boolean);
  if (changes.length > 0 || secret !== undefined) await client.query(`ALTER ROLE ${login} ${changes.join(' ')}${password}`);
  return false;
}

/**
 * Make the login a member of each runtime role it is not yet a member of. On
 * PostgreSQL 16 and later, inheritance is a property of each grant, so each grant
 * switches it off. On 15, the login's NOINHERIT covers all its memberships.
 */
async function grantRuntimeRoles(client: pg.ClientBase, role: string): Promise<string[]> {
  const version = Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]!.v);
  const options = version >= 160000 ? ' WITH INHERIT FALSE, SET TRUE' : '';
  const granted: string[] = [];

  for (const runtimeRole of RUNTIME_ROLES) {
    const { rows } = await client.query<{ member: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_auth_members WHERE roleid = $1::regrole AND member = $2::regrole) AS member`,
      [runtimeRole, role],
    );
    if (rows[0]!.member) continue;
    await client.query(`GRANT ${client.escapeIdentifier(runtimeRole)} TO ${client.escapeIdentifier(role)}${options}`);
    granted.push(runtimeRole);
  }
  return granted;
}

/** Take away a direct membership in strata_owner, which owns the tenant tables (an older setup granted it). */
async function revokeOwnerRoles(client: pg.ClientBase, role: string): Promise<string[]> {
  const { rows } = await client.query<{ member: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_auth_members WHERE roleid = $1::regrole AND member = $2::regrole) AS member`,
    [Roles.owner, role],
  );
  if (!rows[0]!.member) return [];
  await client.query(`REVOKE ${client.escapeIdentifier(Roles.owner)} FROM ${client.escapeIdentifier(role)}`);
  return [Roles.owner];
}

/** The function roles and the control schema come from `strata migrate`. */
async function assertMigrated(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ control: boolean; roles: number }>(
    "SELECT to_regclass('control.tenant') IS NOT NULL AS control, (SELECT count(*)::int FROM pg_roles WHERE rolname = ANY ($1::text[])) AS roles",
    [ALL_ROLES],
  );
  if (!rows[0]!.control || rows[0]!.roles < ALL_ROLES.length) {
    throw new StrataError('NOT_MIGRATED', 'the control schema or a function role is missing; run `strata migrate` first', 409);
  }
}

async function grantControl(client: pg.ClientBase, role: string): Promise<void> {
  for (const grant of CONTROL_GRANTS) await client.query(grant.replace('%I', client.escapeIdentifier(role)));
}

/**
 * Give the pg-boss schema and everything in it to the login. pg-boss creates a
 * partition per queue and per statistics period while it runs, which only the owner of
 * its parent tables may do. A schema created by an earlier run as another login
 * (a superuser, say) is taken over object by object.
 */
async function adoptJobsSchema(client: pg.ClientBase, role: string): Promise<number> {
  const login = client.escapeIdentifier(role);
  const schema = client.escapeIdentifier(JOBS_SCHEMA);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema} AUTHORIZATION ${login}`);
  await client.query(`ALTER SCHEMA ${schema} OWNER TO ${login}`);

  // Sequences that belong to a column move with their table, and array types with
  // their element type; PostgreSQL refuses to move either on its own.
  const { rows } = await client.query<{ statement: string }>(
    `SELECT format('ALTER %s %s OWNER TO %I', kind, name, $2::text) AS statement FROM (
       SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind,
              c.oid::regclass::text AS name
         FROM pg_class c
        WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND c.relowner <> $2::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
                             AND c.relkind = 'S')
       UNION ALL
       SELECT 'ROUTINE', p.oid::regprocedure::text
         FROM pg_proc p WHERE p.pronamespace = $1::regnamespace AND p.proowner <> $2::regrole
       UNION ALL
       SELECT 'TYPE', t.oid::regtype::text
         FROM pg_type t
        WHERE t.typnamespace = $1::regnamespace AND t.typowner <> $2::regrole
          AND t.typtype IN ('e', 'd', 'r')) AS objects`,
    [JOBS_SCHEMA, role],
  );
  for (const row of rows) await client.query(row.statement);
  return rows.length;
}
