import { readFile, stat } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { listTargets, removeTarget, setTarget } from '../../acting/targets.ts';
import { cliActor } from '../../control/audit.ts';
import { CREDENTIAL_FIELDS, type TargetConfig } from '../../tier2/targetConfig.ts';
import { TIER2_KINDS } from '../../tier2/tier2Store.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { requireTenant } from '../findTenant.ts';
import { formatTable } from '../format.ts';

/** Environment variables each kind's credentials are read from, unless --credentials-file is given. */
const CREDENTIAL_ENV: Record<TargetConfig['kind'], Record<string, string>> = {
  fs: {},
  s3: {
    accessKeyId: 'STRATA_TARGET_S3_ACCESS_KEY_ID',
    secretAccessKey: 'STRATA_TARGET_S3_SECRET_ACCESS_KEY',
    sessionToken: 'STRATA_TARGET_S3_SESSION_TOKEN',
  },
  azure: {
    accountKey: 'STRATA_TARGET_AZURE_ACCOUNT_KEY',
    sasToken: 'STRATA_TARGET_AZURE_SAS_TOKEN',
  },
};

export const usage = `Usage: strata target <set|list|remove> --tenant CODE [options]

The Tier-2 target of each share: where its cold files are copied to. Credentials are
stored sealed with the tenant's data key and never printed.

  strata target set --tenant CODE --share NAME --kind fs|s3|azure [settings]
  strata target list --tenant CODE
  strata target remove --tenant CODE --share NAME

Run \`strata target <action> --help\` for each action's options.`;

const setUsage = `Usage: strata target set --tenant CODE --share NAME --kind fs|s3|azure [settings]

Create or replace the Tier-2 target of a share.

Options:
  --tenant CODE             tenant code
  --share NAME              share name, as the agent scans it
  --kind KIND               fs, s3 or azure

  kind fs (a folder: local, a mounted SMB share, or a UNC path on Windows):
  --root PATH               absolute path of the folder, as the agent sees it

  kind s3:
  --bucket NAME             bucket
  --region REGION           region, e.g. eu-west-1
  --prefix PREFIX           key prefix inside the bucket (optional)
  --endpoint URL            URL of an S3-compatible service (optional; AWS by default)
  --force-path-style        put the bucket in the URL path (most S3-compatible services need it)
  credentials: ${CREDENTIAL_ENV.s3.accessKeyId}, ${CREDENTIAL_ENV.s3.secretAccessKey}
               and optionally ${CREDENTIAL_ENV.s3.sessionToken}

  kind azure:
  --container NAME          container
  --account-url URL         Blob service URL, e.g. https://ACCOUNT.blob.core.windows.net
  --account-name NAME       storage account name
  --prefix PREFIX           blob name prefix inside the container (optional)
  credentials: ${CREDENTIAL_ENV.azure.accountKey} or ${CREDENTIAL_ENV.azure.sasToken}

  --credentials-file FILE   read the credentials from a JSON file instead of the
                            environment, e.g. {"accessKeyId": "…", "secretAccessKey": "…"}
                            or {"accountKey": "…"}; "-" reads the JSON from stdin
  --force                   replace the kind or settings of a target that files of the
                            share are stubbed on or in flight to, after moving their
                            objects to the new place; without it such a change is
                            rejected (TARGET_IN_USE), because the stubs would point
                            to the wrong place. New credentials, an S3 region or path
                            style, or a trailing separator need no --force.

Credentials are never taken from the command line, where other users of the machine
could read them in the process list.`;

const listUsage = `Usage: strata target list --tenant CODE

List the tenant's targets: share, kind, settings, whether credentials are set, and
when the target was last changed. Credentials are never shown.

Options:
  --tenant CODE   tenant code`;

const removeUsage = `Usage: strata target remove --tenant CODE --share NAME

Remove a share's target. Objects already copied to Tier-2 stay where they are.
Removing a target that does not exist changes nothing. A target that files of the
share are stubbed on or in flight to is kept (TARGET_IN_USE) unless --force is given,
because those files could not be recalled without it.

Options:
  --tenant CODE   tenant code
  --share NAME    share name
  --force         remove the target even though files are stubbed on it`;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'set') return set(rest);
  if (action === 'list') return list(rest);
  if (action === 'remove') return remove(rest);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown target action "${action}"`, usage);
}

async function set(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    {
      tenant: { type: 'string' },
      share: { type: 'string' },
      kind: { type: 'string' },
      root: { type: 'string' },
      bucket: { type: 'string' },
      region: { type: 'string' },
      prefix: { type: 'string' },
      endpoint: { type: 'string' },
      'force-path-style': { type: 'boolean' },
      container: { type: 'string' },
      'account-url': { type: 'string' },
      'account-name': { type: 'string' },
      'credentials-file': { type: 'string' },
      force: { type: 'boolean' },
    },
    setUsage,
  );
  const code = required(options.tenant, 'tenant', setUsage);
  const share = required(options.share, 'share', setUsage);
  const kind = required(options.kind, 'kind', setUsage);
  if (!(TIER2_KINDS as readonly string[]).includes(kind)) throw new UsageError(`--kind must be one of ${TIER2_KINDS.join(', ')}, got "${kind}"`, setUsage);

  // Only the options given go into the target, so an option of another kind is reported
  // by the validation as not a setting of this kind.
  const settings = withoutUndefined({
    root: options.root,
    bucket: options.bucket,
    region: options.region,
    prefix: options.prefix,
    endpoint: options.endpoint,
    forcePathStyle: options['force-path-style'],
    container: options.container,
    accountUrl: options['account-url'],
    accountName: options['account-name'],
  });
  const credentials = await readCredentials(kind as TargetConfig['kind'], options['credentials-file']);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const { created } = await setTarget(services, tenant, share, { kind, ...settings, ...credentials }, cliActor(), { force: options.force === true });
    const credentialNote = Object.keys(credentials).length > 0 ? `credentials set (${Object.keys(credentials).join(', ')})` : 'no credentials';
    console.log(`target of share ${share} ${created ? 'created' : 'replaced'}: ${kind} ${describeSettings(settings)}; ${credentialNote}`);
    return 0;
  });
}

async function list(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' } }, listUsage);
  const code = required(options.tenant, 'tenant', listUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const targets = await listTargets(services.pool, tenant);
    const rows = targets.map((target) => [target.shareName, target.kind, describeSettings(target.settings), target.credentials, target.updatedAt.toISOString()]);
    console.log(formatTable(['share', 'kind', 'settings', 'credentials', 'updated'], rows));
    return 0;
  });
}

async function remove(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, share: { type: 'string' }, force: { type: 'boolean' } }, removeUsage);
  const code = required(options.tenant, 'tenant', removeUsage);
  const share = required(options.share, 'share', removeUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const removed = await removeTarget(services.pool, tenant, share, cliActor(), { force: options.force === true });
    console.log(removed ? `target of share ${share} removed` : `share ${share} had no target`);
    return 0;
  });
}

/**
 * Read the credentials of a kind: from a JSON file (or stdin for "-") when one is
 * named, else from the kind's environment variables. Only the kind's credential
 * fields are accepted, so a setting cannot slip in through the file.
 */
async function readCredentials(kind: TargetConfig['kind'], file: string | undefined): Promise<Record<string, string>> {
  const fields: readonly string[] = CREDENTIAL_FIELDS[kind];
  if (file === undefined) {
    const fromEnv: Record<string, string> = {};
    for (const [field, variable] of Object.entries(CREDENTIAL_ENV[kind])) {
      const value = process.env[variable];
      if (value) fromEnv[field] = value;
    }
    return fromEnv;
  }

  const source = file === '-' ? 'stdin' : file;
  if (file !== '-' && process.platform !== 'win32' && ((await stat(file)).mode & 0o077) !== 0) {
    console.error(`strata: warning: ${file} can be read by other users; keep credential files at mode 0600 and remove them after use`);
  }
  const content = file === '-' ? await text(process.stdin) : await readFile(file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    // The parser's message quotes the input, which may hold a secret.
    throw new UsageError(`--credentials-file: ${source} is not valid JSON`, setUsage);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`--credentials-file: ${source} must contain a JSON object`, setUsage);

  const credentials: Record<string, string> = {};
  for (const [field, value] of Object.entries(parsed)) {
    if (!fields.includes(field)) throw new UsageError(`--credentials-file: "${field}" is not a credential of kind ${kind}; expected ${fields.join(', ') || 'none'}`, setUsage);
    if (typeof value !== 'string') throw new UsageError(`--credentials-file: "${field}" must be a string`, setUsage);
    credentials[field] = value;
  }
  return credentials;
}

function describeSettings(settings: Record<string, unknown>): string {
  return Object.entries(settings)
    .map(([name, value]) => `${name}=${String(value)}`)
    .join(' ');
}

function withoutUndefined(values: Record<string, string | boolean | undefined>): Record<string, string | boolean> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Record<string, string | boolean>;
}
