import type pg from 'pg';
import { StrataError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { RUNTIME_ROLES } from '../roles.ts';
import { checkDefinerFunctions } from './checkDefinerFunctions.ts';
import { checkReportLogins } from './checkReportLogins.ts';
import { checkRoles } from './checkRoles.ts';
import { checkTenantRelations } from './checkTenantRelations.ts';
import { formatProblems, type Problem } from './problem.ts';
import { listTenantSchemas } from './tenantSchemas.ts';

export interface SelfCheckOptions {
  /** The login to check (default: the connection's own login, `session_user`). */
  login?: string;
  /** The roles the service switches to (default: the function roles and the stager). */
  runtimeRoles?: readonly string[];
  /**
   * Accept a login that could read around row-level security (a superuser, say): its
   * problems are returned as `waived` instead of `problems`. For development and tests
   * only; see STRATA_ALLOW_SUPERUSER.
   */
  allowPrivilegedLogin?: boolean;
}

export interface SelfCheckReport {
  login: string;
  loginIsSuperuser: boolean;
  tenantSchemas: number;
  /** Findings that make the service refuse to start. */
  problems: Problem[];
  /** Findings about the login that the development override accepted. */
  waived: Problem[];
}

/**
 * Check the database for every way around tenant isolation that the catalogue shows.
 * It looks for roles that bypass row-level security, tenant tables without forced RLS
 * or the tenant policy, and views that run with their owner's privileges. It also
 * looks for SECURITY DEFINER functions whose `search_path` is not pinned, and for
 * reporting logins that reach beyond their tenant. It only reads the catalogue and
 * `control.tenant`.
 */
export async function runSelfCheck(db: pg.ClientBase | pg.Pool, options: SelfCheckOptions = {}): Promise<SelfCheckReport> {
  const login = options.login ?? (await db.query<{ login: string }>('SELECT session_user AS login')).rows[0]!.login;
  const tenantSchemas = await listTenantSchemas(db);

  const roles = await checkRoles(db, { login, runtimeRoles: options.runtimeRoles ?? RUNTIME_ROLES, tenantSchemas });
  const relations = await checkTenantRelations(db, tenantSchemas);
  const functions = await checkDefinerFunctions(db);
  const reportLogins = await checkReportLogins(db, tenantSchemas);

  const waive = options.allowPrivilegedLogin === true;
  return {
    login,
    loginIsSuperuser: roles.loginIsSuperuser,
    tenantSchemas: tenantSchemas.length,
    problems: [...(waive ? [] : roles.loginProblems), ...roles.roleProblems, ...relations, ...functions, ...reportLogins],
    waived: waive ? roles.loginProblems : [],
  };
}

/** Raised at start-up when the self-check finds a way around tenant isolation. */
export class SelfCheckError extends StrataError {
  override name = 'SelfCheckError';

  constructor(readonly problems: Problem[]) {
    super(
      'SELF_CHECK_FAILED',
      `refusing to start: the database self-check found ${problems.length} problem(s) that would weaken tenant isolation:\n` +
        `${formatProblems(problems)}\n` +
        'Run `strata doctor` after fixing them; README.md ("Role model") describes the expected setup.',
      500,
    );
  }
}

/**
 * Run the self-check before a process serves requests or jobs. Problems are logged
 * one by one and raised as a SelfCheckError. A login accepted only through the
 * development override is logged as a warning on every start.
 */
export async function assertSafeToServe(pool: pg.Pool, log: Logger, options: SelfCheckOptions = {}): Promise<SelfCheckReport> {
  const report = await runSelfCheck(pool, options);

  if (report.waived.length > 0) {
    log.warn(
      { login: report.login, findings: report.waived.map((problem) => problem.message) },
      `STRATA_ALLOW_SUPERUSER is set: serving as login ${report.login}, which can read around row-level security. ` +
        'Never do this in production.',
    );
  }
  for (const problem of report.problems) log.error({ check: problem.check, subject: problem.subject }, problem.message);
  if (report.problems.length > 0) throw new SelfCheckError(report.problems);

  log.info({ login: report.login, tenantSchemas: report.tenantSchemas }, 'database self-check passed');
  return report;
}
