import { SHARE_NAME } from '../../api/schemas.ts';
import { cliActor } from '../../control/audit.ts';
import { addExclusion, AGE_BASES, DEFAULT_POLICY_SHARE, listPolicies, removeExclusion, removePolicy, setPolicy, type AgeBasis } from '../../planning/policies.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { MAX_AGE_SECONDS, parseDuration } from '../duration.ts';
import { formatBytes, formatTable } from '../format.ts';
import { requireTenant } from '../findTenant.ts';
import { parseSize } from '../size.ts';

export const usage = `Usage: strata policy <action> [options]

  strata policy set --tenant CODE --share NAME --older-than DURATION [options]
      Create or replace the tiering policy of a share ("*" for the tenant default,
      used by shares without their own). See \`strata policy set --help\`.

  strata policy list --tenant CODE
      List the policies and the exclusion list.

  strata policy remove --tenant CODE --share NAME
      Remove a share's policy.

  strata policy exclude --tenant CODE --pattern GLOB [--share NAME] [--reason TEXT]
  strata policy unexclude --tenant CODE --pattern GLOB [--share NAME]
      Add a glob to, or remove it from, the exclusion list: files whose full path
      matches are never planned, on one share or (without --share) on every share.

Every change is recorded in the tenant's audit log. Policies take effect at the next
\`strata plan\`.`;

const setUsage = `Usage: strata policy set --tenant CODE --share NAME --older-than DURATION
                         [--basis auto|access|modification|later] [--min-size SIZE]
                         [--include GLOB]... [--exclude GLOB]... [--max-failure-rate FRACTION]

Create or replace a share's tiering policy. Options left out take their defaults, so
the command always states the whole policy.

Options:
  --tenant CODE              tenant code
  --share NAME               share name, or "*" for the tenant default policy
  --older-than DURATION      plan files not used for this long: 365d, 12w, 2y (units s, m, h, d, w, y)
  --basis BASIS              time a file's age counts from (default auto):
                               auto, later   the later of last access and last modification; so a
                                             file modified within the threshold is never planned, and
                                             shares that do not maintain access times age by modification
                               access        last access only (trusts access times)
                               modification  last modification only
  --min-size SIZE            skip files smaller than this (default 0): 4096, 64K, 10MiB, 1GB
  --include GLOB             plan only files whose full path matches; repeatable
  --exclude GLOB             never plan files whose full path matches; repeatable
  --max-failure-rate FRACTION  pause the share's claims when more than this fraction of its
                             recent results failed (default: STRATA_ACT_MAX_FAILURE_RATE, 0.25)

Globs match the whole source path: * within one folder, ** across folders, ? one
character. On Windows shares / and \\ both match the separator and case is ignored,
for example --exclude 'D:/Finance/**/*.pst'.`;

const listUsage = `Usage: strata policy list --tenant CODE`;

const removeUsage = `Usage: strata policy remove --tenant CODE --share NAME

Remove a share's policy. Its PLANNED files stay until the next \`strata plan --apply\`,
which uses the tenant default policy for it, or skips it when there is none.`;

const excludeUsage = `Usage: strata policy exclude --tenant CODE --pattern GLOB [--share NAME] [--reason TEXT]
       strata policy unexclude --tenant CODE --pattern GLOB [--share NAME]

Options:
  --tenant CODE     tenant code
  --pattern GLOB    glob over the full source path (see \`strata policy set --help\`)
  --share NAME      only this share (default: every share)
  --reason TEXT     why, shown by \`strata policy list\``;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'set') return set(rest);
  if (action === 'list') return list(rest);
  if (action === 'remove') return remove(rest);
  if (action === 'exclude') return exclude(rest, true);
  if (action === 'unexclude') return exclude(rest, false);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown action "${action}"`, usage);
}

function shareOption(value: string | undefined, usageText: string, allowDefault: boolean): string {
  const share = required(value, 'share', usageText);
  if (allowDefault && share === DEFAULT_POLICY_SHARE) return share;
  if (!new RegExp(SHARE_NAME).test(share)) throw new UsageError(`--share ${JSON.stringify(share)} is not a valid share name`, usageText);
  return share;
}

async function set(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    {
      tenant: { type: 'string' },
      share: { type: 'string' },
      'older-than': { type: 'string' },
      basis: { type: 'string' },
      'min-size': { type: 'string' },
      include: { type: 'string', multiple: true },
      exclude: { type: 'string', multiple: true },
      'max-failure-rate': { type: 'string' },
    },
    setUsage,
  );
  const code = required(options.tenant, 'tenant', setUsage);
  const share = shareOption(options.share, setUsage, true);

  const olderThan = required(options['older-than'], 'older-than', setUsage);
  const minAgeSeconds = parseDuration(olderThan);
  if (minAgeSeconds === undefined || minAgeSeconds < 1 || minAgeSeconds > MAX_AGE_SECONDS) {
    throw new UsageError(`--older-than must be from 1s to 200y, written like 365d, 12w or 2y; got "${olderThan}"`, setUsage);
  }

  const basis = options.basis ?? 'auto';
  if (!(AGE_BASES as readonly string[]).includes(basis)) {
    throw new UsageError(`--basis must be one of ${AGE_BASES.join(', ')}; got "${basis}"`, setUsage);
  }

  const minSizeBytes = options['min-size'] === undefined ? 0 : parseSize(options['min-size']);
  if (minSizeBytes === undefined) throw new UsageError(`--min-size must be a size such as 4096, 64K or 10MiB; got "${options['min-size']}"`, setUsage);

  let maxFailureRate: number | null = null;
  if (options['max-failure-rate'] !== undefined) {
    maxFailureRate = Number(options['max-failure-rate']);
    if (!Number.isFinite(maxFailureRate) || maxFailureRate <= 0 || maxFailureRate > 1) {
      throw new UsageError(`--max-failure-rate must be above 0 and at most 1; got "${options['max-failure-rate']}"`, setUsage);
    }
  }

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    await setPolicy(
      services.pool,
      tenant,
      {
        share,
        minAgeSeconds,
        ageBasis: basis as AgeBasis,
        minSizeBytes,
        includeGlobs: options.include ?? [],
        excludeGlobs: options.exclude ?? [],
        maxFailureRate,
      },
      cliActor(),
    );
    console.log(`policy of share ${share} set; run \`strata plan --tenant ${code}\` to see what it selects`);
    return 0;
  });
}

async function list(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' } }, listUsage);
  const code = required(options.tenant, 'tenant', listUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const { policies, exclusions } = await listPolicies(services.pool, tenant);

    const rows = policies.map((policy) => [
      policy.share,
      `${Math.round(policy.minAgeSeconds / 86_400)}d`,
      policy.ageBasis,
      formatBytes(policy.minSizeBytes),
      policy.includeGlobs.join(' ') || '-',
      policy.excludeGlobs.join(' ') || '-',
      policy.maxFailureRate === null ? 'default' : String(policy.maxFailureRate),
      policy.updatedBy ?? '',
    ]);
    console.log(formatTable(['share', 'older than', 'basis', 'min size', 'include', 'exclude', 'max failure rate', 'updated by'], rows));

    if (exclusions.length > 0) {
      console.log('\nExclusion list:');
      const excluded = exclusions.map((entry) => [entry.share ?? '(every share)', entry.pattern, entry.reason ?? '', entry.addedBy ?? '']);
      console.log(formatTable(['share', 'pattern', 'reason', 'added by'], excluded));
    }
    return 0;
  });
}

async function remove(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, share: { type: 'string' } }, removeUsage);
  const code = required(options.tenant, 'tenant', removeUsage);
  const share = shareOption(options.share, removeUsage, true);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    await removePolicy(services.pool, tenant, share, cliActor());
    console.log(`policy of share ${share} removed`);
    return 0;
  });
}

async function exclude(argv: string[], add: boolean): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, pattern: { type: 'string' }, share: { type: 'string' }, reason: { type: 'string' } },
    excludeUsage,
  );
  const code = required(options.tenant, 'tenant', excludeUsage);
  const pattern = required(options.pattern, 'pattern', excludeUsage);
  const share = options.share === undefined ? null : shareOption(options.share, excludeUsage, false);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    if (add) {
      const added = await addExclusion(services.pool, tenant, { share, pattern, reason: options.reason ?? null }, cliActor());
      console.log(added ? `excluded ${pattern}` : `${pattern} was already excluded; nothing changed`);
    } else {
      await removeExclusion(services.pool, tenant, share, pattern, cliActor());
      console.log(`${pattern} is no longer excluded`);
    }
    return 0;
  });
}
