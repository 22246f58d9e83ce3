import type pg from 'pg';
import { REPORT_LOGIN_PREFIX } from '../../tenancy/reportLoginName.ts';
import type { Problem } from './problem.ts';

interface ReportLoginRow {
  name: string;
  privileged: boolean;
  memberships: string[];
  foreign_schemas: string[];
}

/**
 * Check the tenants' reporting logins (`strata tenant report-role`): none may bypass
 * row-level security or create roles, be a member of another role, or use any
 * tenant schema but its own. Schema privileges are read from the schemas' ACLs, so
 * the cost grows with the number of schemas, not with logins times schemas.
 */
export async function checkReportLogins(db: pg.ClientBase | pg.Pool, schemas: readonly string[]): Promise<Problem[]> {
  const { rows } = await db.query<ReportLoginRow>(
    `SELECT r.rolname AS name, r.rolsuper OR r.rolbypassrls OR r.rolcreaterole AS privileged,
            ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = r.oid ORDER BY 1)::text[] AS memberships,
            ARRAY(SELECT n.nspname::text FROM pg_namespace n, aclexplode(n.nspacl) a
                   WHERE n.nspname = ANY ($2::text[]) AND a.grantee = r.oid AND a.privilege_type = 'USAGE'
                     AND n.nspname <> 't_' || substr(r.rolname, length($1) + 1)
                   ORDER BY 1)::text[] AS foreign_schemas
       FROM pg_roles r
      WHERE starts_with(r.rolname, $1)
      ORDER BY r.rolname`,
    [REPORT_LOGIN_PREFIX, schemas],
  );

  const problems: Problem[] = [];
  for (const login of rows) {
    const subject = `reporting login ${login.name}`;
    if (login.privileged) {
      problems.push({
        check: 'report-login-privileged',
        subject,
        message: `is a superuser or has BYPASSRLS or CREATEROLE; run ALTER ROLE ${login.name} NOSUPERUSER NOBYPASSRLS NOCREATEROLE`,
      });
    }
    if (login.memberships.length > 0) {
      problems.push({
        check: 'report-login-member',
        subject,
        message: `is a member of ${login.memberships.join(', ')}, and would gain their privileges; run REVOKE ${login.memberships.join(', ')} FROM ${login.name}`,
      });
    }
    if (login.foreign_schemas.length > 0) {
      problems.push({
        check: 'report-login-foreign-schema',
        subject,
        message: `may use another tenant's schema (${login.foreign_schemas.join(', ')}); run REVOKE USAGE ON SCHEMA ${login.foreign_schemas.join(', ')} FROM ${login.name}`,
      });
    }
  }
  return problems;
}
