import { createInterface } from 'node:readline/promises';
import { cliActor } from '../../control/audit.ts';
import { deleteTenant } from '../../tenancy/deleteTenant.ts';
import { setTenantStatus } from '../../tenancy/suspendTenant.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { requireTenant } from '../findTenant.ts';

const suspendUsage = `Usage: strata tenant suspend --tenant CODE [--reason TEXT]

Suspend a tenant: the API rejects its tokens with 403 TENANT_SUSPENDED until it is
resumed. Its data and tokens stay as they are. Jobs already queued still run.

Options:
  --tenant CODE    tenant code
  --reason TEXT    why, kept in the audit record`;

const resumeUsage = `Usage: strata tenant resume --tenant CODE [--reason TEXT]

Resume a suspended tenant: its valid tokens work again.

Options:
  --tenant CODE    tenant code
  --reason TEXT    why, kept in the audit record`;

const deleteUsage = `Usage: strata tenant delete --tenant CODE [--yes]

Delete a tenant for good: revoke its tokens, drop schema t_CODE with all its data,
remove it from the registry, then destroy its key, so that its data key (and anything
encrypted with it, in backups too) can no longer be read. The deletion is recorded in
control.audit_event. Export the tenant first if its data may be needed again.

It asks you to type the tenant code to confirm. Without a terminal to ask on, it
stops unless --yes is given.

Options:
  --tenant CODE    tenant code
  --yes            confirm without asking (for scripts)`;

export async function suspend(argv: string[]): Promise<number> {
  return changeStatus(argv, 'SUSPENDED', suspendUsage);
}

export async function resume(argv: string[]): Promise<number> {
  return changeStatus(argv, 'ACTIVE', resumeUsage);
}

async function changeStatus(argv: string[], status: 'ACTIVE' | 'SUSPENDED', usage: string): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, reason: { type: 'string' } }, usage);
  const code = required(options.tenant, 'tenant', usage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const changed = await setTenantStatus(services.pool, tenant, status, { actor: cliActor(), reason: options.reason });
    const state = status === 'SUSPENDED' ? 'suspended' : 'active';
    console.log(changed ? `tenant ${code} is now ${state}` : `tenant ${code} was already ${state}; nothing changed`);
    return 0;
  });
}

export async function remove(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, yes: { type: 'boolean' } }, deleteUsage);
  const code = required(options.tenant, 'tenant', deleteUsage);
  if (!options.yes && !process.stdin.isTTY) {
    throw new UsageError(`tenant ${code} not deleted: there is no terminal to ask for confirmation on; pass --yes to confirm`, deleteUsage);
  }

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    if (!options.yes && !(await confirmByCode(code, tenant.schemaName))) {
      console.error(`strata: the code typed did not match; tenant ${code} was not deleted`);
      return 1;
    }

    const report = await deleteTenant(services, tenant, cliActor());
    console.log(`tenant ${code} deleted: schema ${report.schemaName} dropped, ${report.tokensRevoked} token(s) revoked`);
    if (report.keyDestroyed) {
      console.log(`key ${report.keyRef} destroyed`);
      return 0;
    }
    console.error(`strata: the tenant is deleted, but its key ${report.keyRef} could not be destroyed: ${report.keyError}; destroy it by hand`);
    return 1;
  });
}

/** Ask on the terminal for the tenant code; true only for an exact match. */
async function confirmByCode(code: string, schemaName: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    console.error(`This drops schema ${schemaName} with all its data, revokes the tenant's tokens and destroys its key.`);
    console.error('It cannot be undone.');
    const answer = await prompt.question(`Type the tenant code (${code}) to confirm: `);
    return answer.trim() === code;
  } finally {
    prompt.close();
  }
}
