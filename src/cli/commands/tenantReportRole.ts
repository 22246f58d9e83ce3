import { findTenantByCode } from '../../control/tenants.ts';
import { assertUsablePassword, generatePassword } from '../../db/rolePassword.ts';
import { StrataError } from '../../errors.ts';
import { reportLoginName } from '../../tenancy/reportLoginName.ts';
import { dropReportRole, setUpReportRole } from '../../tenancy/reportRole.ts';
import { parseCommand, positiveInt, required } from '../args.ts';
import { withServices } from '../context.ts';

export const usage = `Usage: strata tenant report-role --tenant CODE [--connection-limit N] [--reset-password]
       strata tenant report-role --tenant CODE --drop

Create or update the read-only login strata_report_CODE for BI tools. Connected as
it, a tool sees the tenant's reporting views (report_latest_files,
report_age_histogram, report_tiering_state) by name and that tenant's rows only:
search_path and app.tenant_id are fixed for the login in this database, it may read
no table directly and no other tenant's schema, and it cannot change its stored
settings. Run it as a superuser (PostgreSQL 15 lets only a superuser store
app.tenant_id for a role).

Options:
  --tenant CODE           the tenant's code
  --connection-limit N    most sessions the login may hold at once (default 5)
  --reset-password        set a new password on an existing login
  --drop                  drop the login and its privileges instead

Password: taken from STRATA_REPORT_PASSWORD when set (12 to 1024 printable ASCII
characters), else generated and printed once. An existing login keeps its password
unless --reset-password is given or STRATA_REPORT_PASSWORD is set. Only the
SCRAM-SHA-256 secret is sent to PostgreSQL.`;

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, 'connection-limit': { type: 'string' }, 'reset-password': { type: 'boolean' }, drop: { type: 'boolean' } },
    usage,
  );
  const code = required(options.tenant, 'tenant', usage);
  const connectionLimit = positiveInt(options['connection-limit'], 'connection-limit', usage, 5);
  const fromEnv = process.env.STRATA_REPORT_PASSWORD || undefined;
  if (fromEnv !== undefined) assertUsablePassword(fromEnv, 'STRATA_REPORT_PASSWORD');

  return withServices(async (services) => {
    const tenant = await findTenantByCode(services.pool, code);
    if (!tenant) throw new StrataError('NOT_FOUND', `unknown tenant code ${code}; see \`strata tenant list\``, 404);

    const client = await services.pool.connect();
    try {
      await client.query('BEGIN');
      if (options.drop) {
        const dropped = await dropReportRole(client, tenant);
        await client.query('COMMIT');
        console.log(dropped ? `login ${reportLoginName(code)} dropped` : `tenant ${code} has no reporting login`);
        return 0;
      }

      const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [reportLoginName(code)])).rowCount === 1;
      const generated = fromEnv === undefined && (!exists || options['reset-password'] === true) ? generatePassword() : undefined;
      const result = await setUpReportRole(client, tenant, { password: fromEnv ?? generated, connectionLimit });
      await client.query('COMMIT');

      console.log(`login ${result.role} ${result.created ? 'created' : 'updated'} for tenant ${code} (schema ${tenant.schemaName})`);
      console.log(`  may read: ${result.objects.join(', ')}`);
      if (generated !== undefined) {
        console.log('password (shown once; give it to the BI tool and keep no other copy):');
        console.log(generated);
      } else if (result.passwordSet) {
        console.log('  password set from STRATA_REPORT_PASSWORD');
      }
      return 0;
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  });
}
