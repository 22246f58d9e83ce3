import type { Services } from '../../services.ts';
import { checkTenantDrift, type TenantDriftOutcome } from '../../tenancy/checkTenantDrift.ts';
import { formatDifference } from '../../tenancy/schemaDrift.ts';
import { ProgressBar } from '../progressBar.ts';

/**
 * `strata migrate --check`: compare every selected tenant schema with the template and
 * print the differences; returns the exit status (1 when any tenant differs or fails).
 */
export async function runDriftCheck(
  services: Services,
  options: { tenants?: string[]; concurrency: number; progress: 'bar' | 'lines' | 'quiet' },
  print: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  let bar: ProgressBar | undefined;
  let problems = 0;

  const report = await checkTenantDrift(services.pool, services.orm, services.log, {
    concurrency: options.concurrency,
    tenants: options.tenants,
    onResult: (outcome, done, total) => {
      const clean = outcome.differences.length === 0 && outcome.error === undefined;
      if (!clean) problems++;
      if (options.progress === 'bar') {
        bar ??= new ProgressBar(total);
        if (!clean) bar.print(describe(outcome, done, total));
        bar.update(done, problems);
      } else if (options.progress === 'lines' || !clean) {
        print(describe(outcome, done, total));
      }
    },
  });
  bar?.finish();

  const total = report.outcomes.length;
  print(`check: ${total - report.drifted - report.failed} of ${total} tenant schemas match the template, ${report.drifted} differ, ${report.failed} could not be read`);
  return report.drifted + report.failed === 0 ? 0 : 1;
}

function describe(outcome: TenantDriftOutcome, done: number, total: number): string {
  const head = `[${done}/${total} ${outcome.schemaName}]`;
  if (outcome.error !== undefined) return `${head} FAILED: ${outcome.error}`;
  if (outcome.differences.length === 0) return `${head} matches the template`;

  const lines = outcome.differences.map((difference) => `    ${formatDifference(difference)}`);
  return [`${head} ${outcome.differences.length} difference(s):`, ...lines].join('\n');
}
