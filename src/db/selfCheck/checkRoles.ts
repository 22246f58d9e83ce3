import type pg from 'pg';
import { Roles } from '../roles.ts';
import type { Problem } from './problem.ts';

export interface RoleCheckInput {
  /** The login the service connects as. */
  login: string;
  /** The roles the service switches to with SET LOCAL ROLE. */
  runtimeRoles: readonly string[];
  /** Tenant schemas, whose owners and whose tables' owners no runtime role may act as. */
  tenantSchemas: readonly string[];
}

export interface RoleCheckResult {
  /** Problems with the runtime roles: never waived. */
  roleProblems: Problem[];
  /** Problems with the login; the development override turns them into warnings. */
  loginProblems: Problem[];
  loginIsSuperuser: boolean;
}

interface RoleRow {
  name: string;
  exists: boolean;
  rolsuper: boolean;
  rolbypassrls: boolean;
  rolcreaterole: boolean;
}

/**
 * Check that neither the login nor any runtime role can read around row-level
 * security. None may be a superuser or have BYPASSRLS, or be able to switch to such a
 * role or to one that reads the server's files. None may own tenant tables or schemas, or switch to their owner, because an
 * owner can switch RLS off. None may have CREATEROLE, because on PostgreSQL 15 that
 * lets a role grant itself any role that is not a superuser.
 *
 * The stager owns the COPY targets, so the login may switch to it; no other role may.
 * The login must also be able to switch to every runtime role, and must not inherit
 * their privileges (NOINHERIT), so that outside a tenant transaction it has none.
 */
export async function checkRoles(db: pg.ClientBase | pg.Pool, input: RoleCheckInput): Promise<RoleCheckResult> {
  const names = [input.login, ...input.runtimeRoles.filter((role) => role !== input.login)];
  const roles = await readRoles(db, names);
  const owners = await tenantObjectOwners(db, input.tenantSchemas);

  const roleProblems: Problem[] = [];
  const loginProblems: Problem[] = [];
  const login = roles.get(input.login)!;

  for (const role of roles.values()) {
    const isLogin = role.name === input.login;
    const target = isLogin ? loginProblems : roleProblems;

    if (!role.exists) {
      target.push({
        check: 'role-missing',
        subject: `role ${role.name}`,
        message: isLogin ? 'does not exist' : 'does not exist; run `strata migrate`, which creates the function roles',
      });
      continue;
    }
    target.push(...attributeProblems(role, isLogin));
    if (role.rolsuper) continue;

    target.push(...(await reachablePrivilegedRoles(db, role.name)));
    target.push(...(await reachableOwners(db, role.name, owners, isLogin)));
  }

  if (login.exists && !login.rolsuper) loginProblems.push(...(await loginMembershipProblems(db, input.login, input.runtimeRoles)));
  return { roleProblems, loginProblems, loginIsSuperuser: login.exists && login.rolsuper };
}

async function readRoles(db: pg.ClientBase | pg.Pool, names: string[]): Promise<Map<string, RoleRow>> {
  const { rows } = await db.query<RoleRow>(
    `SELECT wanted.name, r.oid IS NOT NULL AS exists,
            coalesce(r.rolsuper, false) AS rolsuper, coalesce(r.rolbypassrls, false) AS rolbypassrls,
            coalesce(r.rolcreaterole, false) AS rolcreaterole
       FROM unnest($1::text[]) WITH ORDINALITY AS wanted (name, position)
       LEFT JOIN pg_roles r ON r.rolname = wanted.name
      ORDER BY wanted.position`,
    [names],
  );
  return new Map(rows.map((row) => [row.name, row]));
}

function attributeProblems(role: RoleRow, isLogin: boolean): Problem[] {
  const subject = `role ${role.name}`;
  const fix = isLogin
    ? 'connect as the runtime login made by `strata db create-login-role` (for development only, STRATA_ALLOW_SUPERUSER=1 accepts it)'
    : `run ALTER ROLE ${role.name} NOSUPERUSER NOBYPASSRLS NOCREATEROLE`;
  const problems: Problem[] = [];

  if (role.rolsuper) {
    problems.push({ check: 'superuser', subject, message: `is a superuser, which bypasses row-level security; ${fix}` });
  }
  if (role.rolbypassrls) {
    problems.push({ check: 'bypassrls', subject, message: `has BYPASSRLS, which bypasses row-level security; ${fix}` });
  }
  if (role.rolcreaterole && !role.rolsuper) {
    problems.push({
      check: 'createrole',
      subject,
      message: `has CREATEROLE, with which it can grant itself ${Roles.owner} and switch row-level security off; ${fix}`,
    });
  }
  return problems;
}

/**
 * PostgreSQL's predefined roles that reach table data without row-level security: the
 * server's files (the tables' data files among them) and programs run as the server.
 */
const FILE_ACCESS_ROLES = ['pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program'];

/** Superuser, BYPASSRLS and server-file roles that `role` can SET ROLE to. */
async function reachablePrivilegedRoles(db: pg.ClientBase | pg.Pool, role: string): Promise<Problem[]> {
  const { rows } = await db.query<{ rolname: string; reason: string }>(
    `SELECT rolname,
            CASE WHEN rolsuper THEN 'is a superuser' WHEN rolbypassrls THEN 'has BYPASSRLS'
                 ELSE 'can read or run files on the database server' END AS reason
       FROM pg_roles
      WHERE (rolsuper OR rolbypassrls OR rolname = ANY ($2::text[]))
        AND rolname <> $1 AND pg_has_role($1, oid, 'MEMBER')
      ORDER BY rolname`,
    [role, FILE_ACCESS_ROLES],
  );
  return rows.map((row) => ({
    check: 'member-of-privileged-role',
    subject: `role ${role}`,
    message: `is a member of ${row.rolname}, which ${row.reason}; run REVOKE ${row.rolname} FROM ${role}`,
  }));
}

interface OwnerRow {
  owner: string;
  objects: number;
  examples: string[];
}

/** Owners of the tenant schemas and of every relation in them, with a few examples each. */
async function tenantObjectOwners(db: pg.ClientBase | pg.Pool, schemas: readonly string[]): Promise<OwnerRow[]> {
  const { rows } = await db.query<OwnerRow>(
    `WITH owned AS (
       SELECT pg_get_userbyid(n.nspowner) AS owner, format('schema %I', n.nspname) AS object
         FROM pg_namespace n WHERE n.nspname = ANY ($1::text[])
       UNION ALL
       SELECT pg_get_userbyid(c.relowner), format('%I.%I', n.nspname, c.relname)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY ($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))
     SELECT owner, count(*)::int AS objects, (array_agg(object ORDER BY object))[1:3] AS examples
       FROM owned GROUP BY owner ORDER BY owner`,
    [schemas],
  );
  return rows;
}

/**
 * Return a problem for each owner of tenant objects that `role` is, or can SET ROLE
 * to. Only the login and the stager itself may act as the stager, whose tables the
 * table check holds to the exception's rules.
 */
async function reachableOwners(db: pg.ClientBase | pg.Pool, role: string, owners: OwnerRow[], isLogin: boolean): Promise<Problem[]> {
  const problems: Problem[] = [];

  for (const owner of owners) {
    if (owner.owner === Roles.stager && (isLogin || role === Roles.stager)) continue;

    const { rows } = await db.query<{ member: boolean }>("SELECT pg_has_role($1, $2, 'MEMBER') AS member", [role, owner.owner]);
    if (!rows[0]?.member) continue;

    const relation = owner.owner === role ? 'owns' : `is a member of ${owner.owner}, which owns`;
    const fix = owner.owner === role ? 'tenant objects must belong to strata_owner; run `strata migrate` as the migration login' : `run REVOKE ${owner.owner} FROM ${role}`;
    problems.push({
      check: 'owns-tenant-objects',
      subject: `role ${role}`,
      message: `${relation} ${owner.objects} tenant object(s) (${owner.examples.join(', ')}), and an owner can switch row-level security off; ${fix}`,
    });
  }
  return problems;
}

/** The login must be able to switch to each runtime role and must inherit none of them. */
async function loginMembershipProblems(db: pg.ClientBase | pg.Pool, login: string, runtimeRoles: readonly string[]): Promise<Problem[]> {
  const { rows } = await db.query<{ role: string; exists: boolean; member: boolean; inherits: boolean }>(
    `SELECT wanted.role, r.oid IS NOT NULL AS exists,
            r.oid IS NOT NULL AND pg_has_role($1, r.oid, 'MEMBER') AS member,
            r.oid IS NOT NULL AND pg_has_role($1, r.oid, 'USAGE') AS inherits
       FROM unnest($2::text[]) AS wanted (role) LEFT JOIN pg_roles r ON r.rolname = wanted.role
      WHERE wanted.role <> $1`,
    [login, runtimeRoles],
  );

  const problems: Problem[] = [];
  for (const row of rows.filter((candidate) => candidate.exists)) {
    if (!row.member) {
      problems.push({
        check: 'cannot-set-role',
        subject: `role ${login}`,
        message: `cannot SET ROLE ${row.role}, so tenant work would fail; run \`strata db create-login-role --role ${login}\``,
      });
    } else if (row.inherits) {
      problems.push({
        check: 'inherits-function-role',
        subject: `role ${login}`,
        message: `inherits the privileges of ${row.role}, so it has them outside tenant transactions too; run ALTER ROLE ${login} NOINHERIT`,
      });
    }
  }
  return problems;
}
