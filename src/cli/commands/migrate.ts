import { cliActor } from '../../control/audit.ts';
import type { Services } from '../../services.ts';
import { migrateControl } from '../../tenancy/migrateControl.ts';
import { migrateTenants, type MigrateTenantsReport, type TenantMigrationOutcome } from '../../tenancy/migrateTenants.ts';
import { parseCommand, positiveInt, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { ProgressBar } from '../progressBar.ts';
import { runDriftCheck } from './migrateCheck.ts';

export const usage = `Usage: strata migrate [options]

Apply pending control-schema migrations, then pending tenant migrations to every
tenant schema (or the chosen ones), N schemas at a time, each in its own transaction
under its own advisory lock. Each run is recorded in control.migration_run, with one
result per tenant in control.migration_result, so a run that failed, stopped or was
interrupted can be resumed.

Options:
  --tenants LIST      only these tenant codes (comma-separated), migrated in this order
  --canary N          migrate the first N tenants first, and stop the run if any of them fails
  --concurrency N     tenant schemas migrated at once (default STRATA_MIGRATE_CONCURRENCY, 8)
  --dry-run           list the migrations each tenant would run; change nothing
  --resume            continue the latest run: skip the tenants it migrated and retry the
                      failed ones first; the run keeps its tenants and canary size
  --run RUN_ID        continue this run instead of the latest (implies --resume)
  --check             compare each tenant schema's catalogue (tables, columns, indexes,
                      constraints, policies, RLS flags, owners, grants, ledger) with what the
                      template migrations produce, list the differences, change nothing
  --progress MODE     bar: a progress bar on stderr, printing failures only (default on a terminal)
                      lines: one "[n/total schema]" line per tenant (default otherwise)
                      quiet: failures and the summary only

A new run covers every selected tenant; a schema already at the template's version
costs one quick check. Resuming is never automatic: without --resume an unfinished
run stays as it was. Ctrl-C stops taking new tenants, lets those in progress finish
and leaves the run STOPPED, ready for --resume; a second Ctrl-C exits at once, and
that run shows as interrupted and can be resumed too.

Exit status: 0 when every schema succeeded (with --check: none differs), 1 otherwise.`;

type ProgressMode = 'bar' | 'lines' | 'quiet';

export interface MigrateAllOptions {
  dryRun: boolean;
  concurrency: number;
  tenants?: string[];
  canary?: number;
  /** `'latest'` or a run id. */
  resume?: string;
  progress?: ProgressMode;
  signal?: AbortSignal;
}

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    {
      'dry-run': { type: 'boolean' },
      check: { type: 'boolean' },
      tenants: { type: 'string' },
      canary: { type: 'string' },
      resume: { type: 'boolean' },
      run: { type: 'string' },
      concurrency: { type: 'string' },
      progress: { type: 'string' },
    },
    usage,
  );
  const tenants = options.tenants?.split(',').map((code) => code.trim()).filter(Boolean);
  const resume = options.run ?? (options.resume ? 'latest' : undefined);
  const canary = options.canary === undefined ? undefined : positiveInt(options.canary, 'canary', usage, 1);
  const progress = progressMode(options.progress);

  if (resume !== undefined && (tenants || canary)) {
    throw new UsageError('--resume and --run continue a run with its own tenants and canary size; leave out --tenants and --canary', usage);
  }
  if (options.check && (resume !== undefined || canary || options['dry-run'])) {
    throw new UsageError('--check only reads; it takes --tenants, --concurrency and --progress', usage);
  }

  return withServices(async (services) => {
    const concurrency = positiveInt(options.concurrency, 'concurrency', usage, services.config.migrateConcurrency);
    if (options.check) return runDriftCheck(services, { tenants, concurrency, progress });

    const stop = stopOnInterrupt();
    try {
      return await migrateAll(services, { dryRun: options['dry-run'] === true, tenants, canary, resume, concurrency, progress, signal: stop.signal });
    } finally {
      stop.dispose();
    }
  });
}

/** Migrate control, then tenants, printing progress; returns the exit status. */
export async function migrateAll(
  services: Services,
  options: MigrateAllOptions,
  print: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  const control = await migrateControl(services.pool, services.orm, { dryRun: options.dryRun });
  const verb = options.dryRun ? 'would apply' : 'applied';
  print(`control: ${control.length > 0 ? `${verb} ${control.join(', ')}` : 'up to date'}`);

  const mode = options.progress ?? 'lines';
  let bar: ProgressBar | undefined;
  let failed = 0;
  const report = await migrateTenants(services.pool, services.orm, services.log, {
    concurrency: options.concurrency,
    dryRun: options.dryRun,
    tenants: options.tenants,
    canary: options.canary,
    resume: options.resume,
    startedBy: cliActor(),
    signal: options.signal,
    onPlan: (plan) => {
      const skipped = plan.resumed ? `, resumed: ${plan.skipped} already migrated and skipped` : '';
      const canary = plan.canary > 0 ? `, canary wave of ${plan.canary} first` : '';
      print(`run ${plan.runId}: ${plan.total} tenant schemas${skipped}${canary}${options.dryRun ? ' (dry run)' : ''}`);
      if (mode === 'bar' && !options.dryRun) bar = new ProgressBar(plan.total);
    },
    onResult: (outcome, done, total) => {
      if (outcome.status === 'FAILED') failed++;
      const line = `[${done}/${total} ${outcome.schemaName}] ${describeOutcome(outcome, verb)}`;
      if (bar) {
        if (outcome.status === 'FAILED') bar.print(line);
        bar.update(done, failed);
      } else if (mode === 'lines' || options.dryRun || outcome.status === 'FAILED') {
        print(line);
      }
    },
  });
  bar?.finish();

  print(summarize(report, options.dryRun));
  return report.status === 'DONE' ? 0 : 1;
}

function describeOutcome(outcome: TenantMigrationOutcome, verb: string): string {
  if (outcome.status === 'FAILED') return `FAILED: ${outcome.error}`;
  return outcome.migrations.length > 0 ? `${verb} ${outcome.migrations.join(', ')}` : 'up to date';
}

function summarize(report: MigrateTenantsReport, dryRun: boolean): string {
  const ok = report.outcomes.length - report.failed;
  const counts = [`${ok} ok`, `${report.failed} failed`];
  if (report.notAttempted > 0) counts.push(`${report.notAttempted} not attempted`);
  if (report.skipped > 0) counts.push(`${report.skipped} skipped (already migrated in this run)`);

  if (dryRun) return `tenants: ${counts.join(', ')} (dry run); nothing recorded`;
  const line = `tenants: ${counts.join(', ')}; run ${report.runId} ${report.status}`;
  const next = `strata migrate --run ${report.runId}`;
  if (report.status === 'DONE') return line;
  if (report.status === 'FAILED') return `${line}\nafter fixing the cause, retry the failed tenants with: ${next}`;
  if (report.failed > 0) return `${line}\na canary tenant failed, so the others were left alone; after fixing the cause: ${next}`;
  return `${line}\nstopped on request; continue with: ${next}`;
}

function progressMode(value: string | undefined): ProgressMode {
  if (value === undefined) return process.stderr.isTTY ? 'bar' : 'lines';
  if (value === 'bar' || value === 'lines' || value === 'quiet') return value;
  throw new UsageError(`--progress must be bar, lines or quiet, got "${value}"`, usage);
}

/**
 * On the first SIGINT or SIGTERM, stop taking new tenants and let those in progress
 * finish. On a second, exit at once, which rolls back the transactions in flight.
 */
function stopOnInterrupt(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    console.error(`\nstrata: ${signal}: finishing the tenants in progress; press Ctrl-C again to exit at once`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
