import { resumeShare, shareActingStatus } from '../../acting/errorRateStop.ts';
import { cliActor } from '../../control/audit.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { requireTenant } from '../findTenant.ts';
import { formatCount, formatTable } from '../format.ts';

export const usage = `Usage: strata act <action> [options]

  strata act status --tenant CODE
      List each share's planned and leased objects, its results since the last
      resume, and whether its claims are paused by the error-rate stop.

  strata act resume --tenant CODE --share NAME
      Hand out claims for a paused share again. Its failure count starts from zero.

The error-rate stop pauses a share when more than STRATA_ACT_MAX_FAILURE_RATE
(default 0.25) of its latest STRATA_ACT_FAILURE_WINDOW results (default 200) failed,
once STRATA_ACT_FAILURE_MIN_RESULTS results (default 20) count. A policy's
--max-failure-rate overrides the rate for its share. While paused, claims get
409 SHARE_PAUSED.`;

const statusUsage = `Usage: strata act status --tenant CODE

Options:
  --tenant CODE   tenant code`;

const resumeUsage = `Usage: strata act resume --tenant CODE --share NAME

Resume claims for a share paused by the error-rate stop; recorded in the audit log.

Options:
  --tenant CODE   tenant code
  --share NAME    share to resume`;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'status') return status(rest);
  if (action === 'resume') return resume(rest);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown action "${action}"`, usage);
}

async function status(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' } }, statusUsage);
  const code = required(options.tenant, 'tenant', statusUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const shares = await shareActingStatus(services.pool, tenant);
    const rows = shares.map((share) => [
      share.share,
      formatCount(share.planned),
      formatCount(share.leased),
      `${formatCount(share.failures)}/${formatCount(share.results)}`,
      share.pausedAt === null ? 'active' : `paused ${new Date(share.pausedAt * 1000).toISOString()}: ${share.pausedReason ?? ''}`,
    ]);
    console.log(formatTable(['share', 'planned', 'leased', 'failed/results', 'claims'], rows));
    return 0;
  });
}

async function resume(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, share: { type: 'string' } }, resumeUsage);
  const code = required(options.tenant, 'tenant', resumeUsage);
  const share = required(options.share, 'share', resumeUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    await resumeShare(services.pool, tenant, share, cliActor());
    console.log(`claims for share ${share} of tenant ${code} are handed out again`);
    return 0;
  });
}
