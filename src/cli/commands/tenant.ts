import { Tenant } from '../../control/entities.ts';
import { provisionTenant } from '../../tenancy/provisionTenant.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { formatTable } from '../format.ts';

export const usage = `Usage: strata tenant <action> [options]

  strata tenant create --code CODE --name NAME
      Create schema t_CODE from the tenant template, register the tenant with a new
      data key, and print its first agent token (shown once, stored only hashed).
      CODE: 2-31 characters, a lowercase letter first, then a-z, 0-9 or _.

  strata tenant list
      List tenants with their schema, schema version and status.

  strata tenant suspend --tenant CODE [--reason TEXT]
  strata tenant resume --tenant CODE [--reason TEXT]
      Reject the tenant's tokens with 403 TENANT_SUSPENDED, or accept them again.

  strata tenant delete --tenant CODE [--yes]
      Drop the tenant's schema, revoke its tokens and destroy its key, after you type
      the code to confirm (or --yes). Recorded in control.audit_event.

  strata tenant report-role --tenant CODE
      Create the tenant's read-only login for BI tools (see its --help).

  strata tenant export --tenant CODE --out FILE [--force]
  strata tenant import --file FILE [--code CODE] [--name NAME]
      Write the tenant's schema with pg_dump, and restore it here under the same or a
      new code.

Run \`strata tenant <action> --help\` for each action's options.`;

const createUsage = `Usage: strata tenant create --code CODE --name NAME

With STRATA_KEY_PROVIDER=vault it also creates the transit key transit/keys/CODE and
stores only the data key Vault wraps with it. When Vault is sealed or unreachable it
fails and leaves nothing behind.

Options:
  --code CODE    tenant code; the schema is t_CODE (2-31 chars: a-z first, then a-z, 0-9, _)
  --name NAME    display name, e.g. "Acme Corp"`;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'create') return create(rest);
  if (action === 'list') return list(rest);
  if (action === 'report-role') return (await import('./tenantReportRole.ts')).run(rest);
  if (action === 'suspend') return (await import('./tenantLifecycle.ts')).suspend(rest);
  if (action === 'resume') return (await import('./tenantLifecycle.ts')).resume(rest);
  if (action === 'delete') return (await import('./tenantLifecycle.ts')).remove(rest);
  if (action === 'export') return (await import('./tenantTransfer.ts')).exportCommand(rest);
  if (action === 'import') return (await import('./tenantTransfer.ts')).importCommand(rest);
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
