import { authenticate } from '../control/authenticate.ts';
import type { TenantRef } from '../db/tenantContext.ts';
import { adminPerson } from '../sanitize/approvals.ts';
import type { Approver } from '../sanitize/proposals.ts';
import type { Services } from '../services.ts';
import { UsageError } from './args.ts';

/** Environment variable that contains the admin token of the person running a remediation command. */
export const ADMIN_TOKEN_ENV = 'STRATA_ADMIN_TOKEN';

/**
 * Read the caller's admin token from the first line of stdin (`--token-stdin`) or from
 * STRATA_ADMIN_TOKEN. Never from the command line, where other users of the machine
 * could read it in the process list.
 */
export async function readAdminToken(fromStdin: boolean, usage: string): Promise<string> {
  if (fromStdin) {
    let text = '';
    for await (const part of process.stdin) {
      text += String(part);
      if (text.includes('\n')) break;
    }
    const token = text.split('\n')[0]!.trim();
    if (token === '') throw new UsageError('--token-stdin: stdin held no token', usage);
    return token;
  }
  const token = process.env[ADMIN_TOKEN_ENV]?.trim();
  if (!token) throw new UsageError(`set ${ADMIN_TOKEN_ENV} to your admin token, or pipe it in with --token-stdin`, usage);
  return token;
}

/** Authenticate the caller's admin token and return the person behind it. */
export async function authenticateAdmin(services: Services, tenant: TenantRef, fromStdin: boolean, usage: string): Promise<Approver> {
  const token = await readAdminToken(fromStdin, usage);
  return adminPerson(await authenticate(services.pool, token), tenant);
}
