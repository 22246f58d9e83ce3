import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { Roles } from '../db/roles.ts';
import { scramSha256Secret } from '../db/rolePassword.ts';
import type { TenantRef } from '../db/tenantContext.ts';
import { reportLoginName } from './reportLoginName.ts';

export interface ReportRoleOptions {
  /** The password to set, or undefined to keep an existing login's password. */
  password?: string;
  /** Most sessions the login may hold at once. */
  connectionLimit: number;
}

export interface ReportRoleResult {
  role: string;
  created: boolean;
  passwordSet: boolean;
  /** Views and functions of the tenant's schema the login may use. */
  objects: string[];
}

/**
 * Create or update a tenant's read-only login for BI tools. It can read that tenant's
 * reporting views and nothing else:
 *
 * - `search_path` and `app.tenant_id` are set for the login in this database
 *   (`ALTER ROLE … IN DATABASE … SET`), so a plain connection finds the tenant's views
 *   by name and its rows through RLS. The login cannot change these defaults, because
 *   PostgreSQL 15 lets only a superuser store a custom setting such as
 *   `app.tenant_id` for a role.
 * - It is granted what strata_report is granted in this one schema (SELECT on the
 *   reporting views, EXECUTE on the functions behind them) and USAGE on no other
 *   tenant schema, so another tenant's schema is out of reach even when the session
 *   changes its own `app.tenant_id`.
 *
 * Runs in the caller's transaction; the caller must be a superuser.
 */
export async function setUpReportRole(client: pg.ClientBase, tenant: TenantRef, options: ReportRoleOptions): Promise<ReportRoleResult> {
  const role = reportLoginName(tenant.code);
  const login = client.escapeIdentifier(role);
  const database = client.escapeIdentifier((await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db);
  const schema = client.escapeIdentifier(tenant.schemaName);
  const password = options.password === undefined ? '' : ` PASSWORD ${client.escapeLiteral(scramSha256Secret(options.password))}`;
  const attributes = `LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT ${options.connectionLimit}`;

  const created = !(await assertReportShaped(client, role));
  await client.query(`${created ? 'CREATE' : 'ALTER'} ROLE ${login} ${attributes}${password}`);

  await client.query(`ALTER ROLE ${login} IN DATABASE ${database} SET search_path = ${schema}`);
  await client.query(`ALTER ROLE ${login} IN DATABASE ${database} SET app.tenant_id = ${client.escapeLiteral(tenant.id)}`);
  await client.query(`GRANT CONNECT ON DATABASE ${database} TO ${login}`);
  await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${login}`);
  const objects = await mirrorReportGrants(client, tenant.schemaName, role);

  return { role, created, passwordSet: password !== '', objects };
}

/**
 * Return whether the login exists. An existing role of that name must look like a
 * reporting login, a member of no role, so that this command never widens what
 * some other role can do.
 */
async function assertReportShaped(client: pg.ClientBase, role: string): Promise<boolean> {
  const { rows } = await client.query<{ memberships: string[] }>(
    `SELECT ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = r.oid)::text[] AS memberships
       FROM pg_roles r WHERE r.rolname = $1`,
    [role],
  );
  if (rows.length === 0) return false;
  if (rows[0]!.memberships.length > 0) {
    throw StrataError.conflict(
      'ROLE_NOT_REPORT_LOGIN',
      `role ${role} exists and is a member of ${rows[0]!.memberships.join(', ')}, which a reporting login never is; revoke those memberships or drop the role first`,
    );
  }
  return true;
}

/** Grant the login, in one schema, each SELECT and EXECUTE that strata_report has there. */
async function mirrorReportGrants(client: pg.ClientBase, schemaName: string, role: string): Promise<string[]> {
  const { rows } = await client.query<{ object: string; statement: string }>(
    `SELECT c.oid::regclass::text AS object, format('GRANT SELECT ON %s TO %I', c.oid::regclass, $3::text) AS statement
       FROM pg_class c
      WHERE c.relnamespace = $1::regnamespace
        AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = $2::regrole AND a.privilege_type = 'SELECT')
     UNION ALL
     SELECT p.oid::regprocedure::text, format('GRANT EXECUTE ON FUNCTION %s TO %I', p.oid::regprocedure, $3::text)
       FROM pg_proc p
      WHERE p.pronamespace = $1::regnamespace
        AND EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = $2::regrole AND a.privilege_type = 'EXECUTE')
      ORDER BY 1`,
    [schemaName, Roles.report, role],
  );
  for (const row of rows) await client.query(row.statement);
  return rows.map((row) => row.object);
}

/**
 * Drop a tenant's reporting login: its privileges in this database, then the role.
 * Returns false when there was none. PostgreSQL rejects the DROP ROLE when the role
 * still has privileges in another database of the cluster, and names that database.
 */
export async function dropReportRole(client: pg.ClientBase, tenant: TenantRef): Promise<boolean> {
  const role = reportLoginName(tenant.code);
  if (!(await assertReportShaped(client, role))) return false;

  const login = client.escapeIdentifier(role);
  await client.query(`DROP OWNED BY ${login}`);
  await client.query(`DROP ROLE ${login}`);
  return true;
}
