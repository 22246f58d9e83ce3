import { requireDatabaseUrl } from '../../config.ts';
import { DEFAULT_LOGIN_ROLE } from '../../db/roles.ts';
import { assertUsablePassword, generatePassword } from '../../db/rolePassword.ts';
import { startBoss } from '../../jobs/boss.ts';
import { setUpLoginRole } from '../../tenancy/loginRole.ts';
import { parseCommand, UsageError } from '../args.ts';
import { withServices } from '../context.ts';

export const usage = `Usage: strata db create-login-role [--role NAME] [--reset-password]

Create or update the login that \`strata api\` and \`strata worker\` connect as
(default strata_app): LOGIN and NOINHERIT, not a superuser, without BYPASSRLS,
CREATEDB, CREATEROLE or REPLICATION; a member of each function role and of
strata_stager, so it can SET ROLE to them but holds none of their privileges until it
does; never a member of strata_owner (an existing membership is revoked). It may read
the tenant registry and tokens, and it owns the pg-boss schema, which this command
installs or upgrades first (the login may not create schemas).

Run it as the migration login (a superuser) after \`strata migrate\`, and again after
an upgrade. Running it again changes only what is not yet right.

Options:
  --role NAME        login to create or update (default ${DEFAULT_LOGIN_ROLE})
  --reset-password   set a new password on an existing login

Password: taken from STRATA_LOGIN_PASSWORD when set (12 to 1024 printable ASCII
characters), else generated and printed once. An existing login keeps its password
unless --reset-password is given or STRATA_LOGIN_PASSWORD is set. Only the
SCRAM-SHA-256 secret is sent to PostgreSQL.`;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'create-login-role') return createLoginRole(rest);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown db action "${action}"`, usage);
}

async function createLoginRole(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { role: { type: 'string' }, 'reset-password': { type: 'boolean' } }, usage);
  const role = options.role ?? DEFAULT_LOGIN_ROLE;
  const fromEnv = process.env.STRATA_LOGIN_PASSWORD || undefined;
  if (fromEnv !== undefined) assertUsablePassword(fromEnv, 'STRATA_LOGIN_PASSWORD');

  return withServices(async (services) => {
    // pg-boss creates its schema on its first start, which needs CREATE on the database.
    const boss = await startBoss(requireDatabaseUrl(services.config), services.log, { max: 2 });
    await boss.stop({ graceful: false, close: true });

    const client = await services.pool.connect();
    try {
      await client.query('BEGIN');
      const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
      const generated = fromEnv === undefined && (!exists || options['reset-password'] === true) ? generatePassword() : undefined;

      const result = await setUpLoginRole(client, { role, password: fromEnv ?? generated });
      await client.query('COMMIT');

      console.log(`login ${role} ${result.created ? 'created' : 'updated'}`);
      if (result.granted.length > 0) console.log(`  now a member (NOINHERIT) of ${result.granted.join(', ')}`);
      if (result.revoked.length > 0) console.log(`  no longer a member of ${result.revoked.join(', ')}: run migrations as another login`);
      if (result.jobsObjectsAdopted > 0) console.log(`  took over ${result.jobsObjectsAdopted} object(s) of the pg-boss schema`);
      if (generated !== undefined) {
        console.log(`password (shown once; put it in the services' DATABASE_URL and PgBouncer's user list):`);
        console.log(generated);
      } else if (result.passwordSet) {
        console.log('  password set from STRATA_LOGIN_PASSWORD');
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
