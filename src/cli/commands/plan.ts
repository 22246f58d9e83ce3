import { findTenantByCode } from '../../control/tenants.ts';
import { StrataError } from '../../errors.ts';
import { planColdFiles, type PlanSummary } from '../../planning/planColdFiles.ts';
import { parseCommand, positiveInt, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { MAX_AGE_SECONDS, parseDuration } from '../duration.ts';
import { formatBytes, formatCount, formatTable } from '../format.ts';

export const usage = `Usage: strata plan --tenant CODE --older-than DURATION [--share NAME] [--top N]

Plan the files of the latest OK scan of each share (or of one share) that were
neither read nor modified for DURATION as PLANNED tier objects, then print what is
planned. Running it again plans only files that were not planned before.

Options:
  --tenant CODE          tenant code
  --older-than DURATION  last access and modification at least this long ago: 365d, 12w, 2y, 36h (units s, m, h, d, w, y)
  --share NAME           only this share
  --top N                folders listed by planned bytes (default 10)`;

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, 'older-than': { type: 'string' }, share: { type: 'string' }, top: { type: 'string' } },
    usage,
  );
  const code = required(options.tenant, 'tenant', usage);
  const olderThan = required(options['older-than'], 'older-than', usage);
  const olderThanSeconds = parseDuration(olderThan);
  if (olderThanSeconds === undefined || olderThanSeconds < 1 || olderThanSeconds > MAX_AGE_SECONDS) {
    throw new UsageError(`--older-than must be from 1s to 200y, written like 365d, 12w, 36h or 2y; got "${olderThan}"`, usage);
  }
  const top = positiveInt(options.top, 'top', usage, 10);

  return withServices(async (services) => {
    const tenant = await findTenantByCode(services.pool, code);
    if (!tenant) throw StrataError.notFound(`tenant ${code}`);

    const summary = await planColdFiles(services.pool, tenant, {
      share: options.share,
      olderThanSeconds,
      plannedBy: `cli:${process.env.USER ?? 'unknown'}`,
      topDirs: top,
    });
    console.log(formatPlanSummary(summary, olderThan));
    return 0;
  });
}

/** Format a plan summary as `strata plan` and the demo print it. */
export function formatPlanSummary(summary: PlanSummary, olderThan: string): string {
  const lines = [
    `Plan: files not used for ${olderThan} (last access and modification before ${new Date(summary.cutoffUnix * 1000).toISOString()})`,
    `  planned now:   ${formatCount(summary.newlyPlanned)} files`,
    `  dropped:       ${formatCount(summary.dropped)} planned files no longer qualify (used, changed or gone)`,
    `  planned total: ${formatCount(summary.plannedFiles)} files, ${formatBytes(summary.plannedBytes)} to free`,
  ];
  for (const share of summary.unreliableAccessTimes) {
    lines.push(
      `  note: share ${share.share} looks like it does not maintain access times (${formatCount(share.suspectFiles)} of ` +
        `${formatCount(share.files)} files were last read at or before they were created or modified); ` +
        'its files are aged by modification time',
    );
  }
  if (summary.topDirs.length > 0) {
    const rows = summary.topDirs.map((dir) => [formatBytes(dir.bytes), formatCount(dir.files), dir.share, dir.dirPath]);
    lines.push('', 'Top folders by planned bytes:', formatTable(['bytes', 'files', 'share', 'folder'], rows));
  }
  return lines.join('\n');
}
