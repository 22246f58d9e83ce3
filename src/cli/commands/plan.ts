import { findTenantByCode } from '../../control/tenants.ts';
import { cliActor } from '../../control/audit.ts';
import { StrataError } from '../../errors.ts';
import { planColdFiles, type PlanSummary } from '../../planning/planColdFiles.ts';
import { parseCommand, positiveInt, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { MAX_AGE_SECONDS, parseDuration } from '../duration.ts';
import { formatBytes, formatCount, formatTable } from '../format.ts';
import { parseSize } from '../size.ts';

export const usage = `Usage: strata plan --tenant CODE [--share NAME] [--older-than DURATION]
                   [--max-files N] [--max-bytes SIZE] [--top N] [--apply]

Show which files of the latest OK scan of each share (or of one share) the share's
tiering policy selects (see \`strata policy\`): how many files, the bytes they would
free and the folders holding the most. Nothing is written unless --apply is given;
then the selected files become PLANNED tier objects for agents to claim, planned files
that no longer qualify are dropped, and the run is recorded in the audit log.

A share without its own policy uses the tenant default policy (share "*"); a share
with neither is skipped unless --older-than is given.

Options:
  --tenant CODE          tenant code
  --share NAME           only this share
  --older-than DURATION  use this age threshold instead of the policies' (365d, 12w, 2y, 36h;
                         units s, m, h, d, w, y); the policies' other rules still apply
  --max-files N          plan at most N files, the least recently used first
  --max-bytes SIZE       plan at most SIZE bytes (4096, 500M, 2GiB, 1TB), least recently used first
  --top N                folders listed by planned bytes (default 10)
  --apply                write the plan (default: dry run, nothing is written)`;

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    {
      tenant: { type: 'string' },
      'older-than': { type: 'string' },
      share: { type: 'string' },
      top: { type: 'string' },
      'max-files': { type: 'string' },
      'max-bytes': { type: 'string' },
      apply: { type: 'boolean' },
    },
    usage,
  );
  const code = required(options.tenant, 'tenant', usage);
  const olderThanSeconds = options['older-than'] === undefined ? undefined : parseAge(options['older-than']);
  const top = positiveInt(options.top, 'top', usage, 10);
  const maxFiles = options['max-files'] === undefined ? undefined : positiveInt(options['max-files'], 'max-files', usage, 0);
  const maxBytes = options['max-bytes'] === undefined ? undefined : parseMaxBytes(options['max-bytes']);

  return withServices(async (services) => {
    const tenant = await findTenantByCode(services.pool, code);
    if (!tenant) throw StrataError.notFound(`tenant ${code}`);

    const summary = await planColdFiles(services.pool, tenant, {
      share: options.share,
      olderThanSeconds,
      apply: options.apply === true,
      maxFiles,
      maxBytes,
      plannedBy: cliActor(),
      topDirs: top,
    });
    console.log(formatPlanSummary(summary));
    return 0;
  });
}

function parseAge(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds < 1 || seconds > MAX_AGE_SECONDS) {
    throw new UsageError(`--older-than must be from 1s to 200y, written like 365d, 12w, 36h or 2y; got "${text}"`, usage);
  }
  return seconds;
}

function parseMaxBytes(text: string): number {
  const bytes = parseSize(text);
  if (bytes === undefined || bytes < 1) throw new UsageError(`--max-bytes must be a positive size such as 500M, 2GiB or 1TB; got "${text}"`, usage);
  return bytes;
}

/** Format a plan summary as `strata plan` and the demo print it. */
export function formatPlanSummary(summary: PlanSummary): string {
  const lines = [summary.applied ? 'Plan applied:' : 'Plan (dry run; nothing written, run again with --apply to write it):'];
  for (const share of summary.shares) {
    const basis = share.basis === 'later' ? 'later of last access and modification' : `last ${share.basis}`;
    lines.push(`  share ${share.share}: files whose ${basis} is before ${new Date(share.cutoffUnix * 1000).toISOString()} (${share.source})`);
  }
  for (const share of summary.skippedShares) lines.push(`  share ${share}: skipped, no policy (set one with \`strata policy set\` or pass --older-than)`);

  const verb = summary.applied ? '' : 'would be ';
  lines.push(
    `  ${verb}planned now: ${formatCount(summary.newlyPlanned)} files`,
    `  ${verb}dropped:     ${formatCount(summary.dropped)} planned files no longer qualify (used, changed, gone, excluded or over a limit)`,
    `  plan total:  ${formatCount(summary.plannedFiles)} files, ${formatBytes(summary.plannedBytes)} to free`,
  );
  if (summary.overLimit > 0) lines.push(`  over limit:  ${formatCount(summary.overLimit)} more files qualify but exceed --max-files or --max-bytes`);
  for (const share of summary.unreliableAccessTimes) {
    lines.push(
      `  note: share ${share.share} looks like it does not maintain access times (${formatCount(share.suspectFiles)} of ` +
        `${formatCount(share.files)} files were last read at or before they were created or modified); ` +
        'with the auto basis its files are aged by the later of access and modification time',
    );
  }
  if (summary.topDirs.length > 0) {
    const rows = summary.topDirs.map((dir) => [formatBytes(dir.bytes), formatCount(dir.files), dir.share, dir.dirPath]);
    lines.push('', 'Top folders by planned bytes:', formatTable(['bytes', 'files', 'share', 'folder'], rows));
  }
  return lines.join('\n');
}
