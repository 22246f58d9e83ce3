import { Tenant } from '../../control/entities.ts';
import { provisionTenant } from '../../tenancy/provisionTenant.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { formatTable } from '../format.ts';

export const usage = `Usage: strata tenant <create|list|report-role> [options]

  strata tenant create --code CODE --name NAME
      Create schema t_CODE from the tenant template, register the tenant with a new
      data key, and print its first agent token (shown once, stored only hashed).
      CODE: 2-31 characters, a lowercase letter first, then a-z, 0-9 or _.

  strata tenant list
      List tenants with their schema and schema version.

  strata tenant report-role --tenant CODE
      Create the tenant's read-only login for BI tools (see its --help).`;

const createUsage = `Usage: strata tenant create --code CODE --name NAME

Options:
  --code CODE    tenant code; the schema is t_CODE (2-31 chars: a-z first, then a-z, 0-9, _)
  --name NAME    display name, e.g. "Acme Corp"`;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'create') return create(rest);
  if (action === 'list') return list(rest);
  if (action === 'report-role') return (await import('./tenantReportRole.ts')).run(rest);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown tenant action "${action}"`, usage);
}

async function create(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { code: { type: 'string' }, name: { type: 'string' } }, createUsage);
  const code = required(options.code, 'code', createUsage);
  const name = required(options.name, 'name', createUsage);

  return withServices(async (services) => {
    const tenant = await provisionTenant(services, { code, name });
    console.log(`tenant ${tenant.code} created: schema ${tenant.schemaName}, version ${tenant.schemaVersion}`);
    console.log(`agent token (shown once; store it in the agent's token file):`);
    console.log(tenant.agentToken);
    return 0;
  });
}

async function list(argv: string[]): Promise<number> {
  parseCommand(argv, {}, 'Usage: strata tenant list');

  return withServices(async (services) => {
    const tenants = await services.orm.em.fork().find(Tenant, {}, { orderBy: { code: 'asc' } });
    const rows = tenants.map((tenant) => [
      tenant.code,
      tenant.name,
      tenant.schemaName,
      tenant.schemaVersion ?? '-',
      tenant.status,
      tenant.createdAt.toISOString(),
    ]);
    console.log(formatTable(['code', 'name', 'schema', 'version', 'status', 'created'], rows));
    return 0;
  });
}
