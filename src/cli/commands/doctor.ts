import { formatProblems } from '../../db/selfCheck/problem.ts';
import { runSelfCheck } from '../../db/selfCheck/selfCheck.ts';
import { parseCommand } from '../args.ts';
import { withServices } from '../context.ts';

export const usage = `Usage: strata doctor [--role LOGIN]

Check the database for ways around tenant isolation, the same checks \`strata api\`
and \`strata worker\` run before they serve:
  - the login and the function roles: no superuser, BYPASSRLS or CREATEROLE, no way
    to SET ROLE to such a role or to an owner of tenant tables; the login can SET ROLE
    to each function role and inherits none of them (NOINHERIT)
  - every tenant table: owned by strata_owner with row-level security enabled and
    forced and the tenant_isolation policy, or owned by strata_stager with RLS enabled,
    the policy and a CHECK constraint on tenant_id
  - every view in a tenant schema is security_invoker
  - every SECURITY DEFINER function pins search_path with pg_temp last

Options:
  --role LOGIN   check LOGIN as the services' login instead of the login in
                 DATABASE_URL (for an administrator checking strata_app)

With STRATA_ALLOW_SUPERUSER=1, findings about the login are shown as warnings.
Exit status: 0 when nothing was found, 1 otherwise.`;

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { role: { type: 'string' } }, usage);

  return withServices(async (services) => {
    const report = await runSelfCheck(services.pool, {
      login: options.role,
      allowPrivilegedLogin: services.config.allowSuperuser,
    });

    console.log(`login ${report.login}${report.loginIsSuperuser ? ' (superuser)' : ''}, ${report.tenantSchemas} tenant schema(s)`);
    if (report.waived.length > 0) {
      console.log(`accepted only because STRATA_ALLOW_SUPERUSER is set (development only):\n${formatProblems(report.waived)}`);
    }
    if (report.problems.length === 0) {
      console.log('ok: no way around tenant isolation found');
      return 0;
    }
    console.log(`${report.problems.length} problem(s):\n${formatProblems(report.problems)}`);
    return 1;
  });
}
