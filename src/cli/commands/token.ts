import { cliActor } from '../../control/audit.ts';
import { createToken, listTokens, parseScopes, revokeToken, personName } from '../../control/tokenRegistry.ts';
import { TOKEN_SCOPES } from '../../control/tokens.ts';
import { StrataError } from '../../errors.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { parseDuration } from '../duration.ts';
import { requireTenant } from '../findTenant.ts';
import { formatTable } from '../format.ts';

export const usage = `Usage: strata token <create|list|revoke> --tenant CODE [options]

API tokens of a tenant. A token is shown once, when it is created; only its SHA-256
is stored. A revoked or expired token gets 401 from the API.

  strata token create --tenant CODE --name NAME --scopes LIST [--person WHO] [--expires DURATION]
  strata token list --tenant CODE
  strata token revoke --tenant CODE --id TOKEN_ID

Run \`strata token <action> --help\` for each action's options.`;

const createUsage = `Usage: strata token create --tenant CODE --name NAME --scopes LIST [--person WHO] [--expires DURATION]

Create a token and print it once (store it in the agent's token file).

Options:
  --tenant CODE         tenant code
  --name NAME           label shown by \`strata token list\` (1 to 100 characters)
  --scopes LIST         comma-separated scopes: ${TOKEN_SCOPES.join(', ')}
                        (an agent needs upload, act, inventory)
  --person WHO          the person who holds the token, such as an e-mail address (1 to 200
                        ASCII letters, digits and . _ % + @ -, stored in lower case); admin tokens need one to request or approve remediation,
                        and two approvals must come from two different people
  --expires DURATION    lifetime from now: 30d, 12w, 1y, 36h (units s, m, h, d, w, y; at most 10y);
                        without it the token does not expire`;

const listUsage = `Usage: strata token list --tenant CODE

List the tenant's tokens, newest first: id, name, person, scopes, state (active, expired,
revoked), created, expires and last used. Tokens themselves are never shown.

Options:
  --tenant CODE   tenant code`;

const revokeUsage = `Usage: strata token revoke --tenant CODE --id TOKEN_ID

Revoke a token: the API rejects it with 401 from the next request on. Revoking a
revoked token changes nothing.

Options:
  --tenant CODE    tenant code
  --id TOKEN_ID    the token's id, as \`strata token list\` shows it`;

const MAX_LIFETIME_SECONDS = 10 * 365 * 86_400;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'create') return create(rest);
  if (action === 'list') return list(rest);
  if (action === 'revoke') return revoke(rest);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown token action "${action}"`, usage);
}

async function create(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, name: { type: 'string' }, scopes: { type: 'string' }, person: { type: 'string' }, expires: { type: 'string' } },
    createUsage,
  );
  const code = required(options.tenant, 'tenant', createUsage);
  const name = required(options.name, 'name', createUsage);
  const scopes = scopesFrom(required(options.scopes, 'scopes', createUsage));
  const expiresAt = options.expires === undefined ? null : expiryFrom(options.expires);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const person = options.person === undefined ? null : personName(options.person);
    const issued = await createToken(services.pool, tenant, { name, scopes, expiresAt, person, actor: cliActor() });

    const expiry = expiresAt ? `expires ${expiresAt.toISOString()}` : 'does not expire';
    const holder = person === null ? '' : ` held by ${person}`;
    console.log(`token ${issued.id} "${name}"${holder} for tenant ${tenant.code}: scopes ${scopes.join(',')}; ${expiry}`);
    if (tenant.status !== 'ACTIVE') console.log(`note: tenant ${tenant.code} is ${tenant.status.toLowerCase()}; the API rejects its tokens with 403 until it is resumed`);
    console.log('token (shown once; store it in the agent\'s token file):');
    console.log(issued.token);
    return 0;
  });
}

function scopesFrom(text: string) {
  try {
    return parseScopes(text);
  } catch (error) {
    if (error instanceof StrataError) throw new UsageError(`--scopes: ${error.message}`, createUsage);
    throw error;
  }
}

function expiryFrom(text: string): Date {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds < 1 || seconds > MAX_LIFETIME_SECONDS) {
    throw new UsageError(`--expires must be from 1s to 10y, written like 30d, 12w, 36h or 1y; got "${text}"`, createUsage);
  }
  return new Date(Date.now() + seconds * 1000);
}

async function list(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' } }, listUsage);
  const code = required(options.tenant, 'tenant', listUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const tokens = await listTokens(services.pool, tenant.id);
    const when = (date: Date | null) => date?.toISOString() ?? '-';
    const rows = tokens.map((token) => [
      token.id,
      token.name,
      token.person ?? '-',
      token.scopes.join(','),
      token.state,
      when(token.createdAt),
      when(token.expiresAt),
      when(token.lastUsedAt),
    ]);
    console.log(formatTable(['id', 'name', 'person', 'scopes', 'state', 'created', 'expires', 'last used'], rows));
    return 0;
  });
}

async function revoke(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, id: { type: 'string' } }, revokeUsage);
  const code = required(options.tenant, 'tenant', revokeUsage);
  const tokenId = required(options.id, 'id', revokeUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const revoked = await revokeToken(services.pool, tenant, tokenId, cliActor());
    console.log(revoked ? `token ${tokenId} revoked` : `token ${tokenId} was already revoked`);
    return 0;
  });
}
