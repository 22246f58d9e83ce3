import type { Services } from '../../services.ts';
import { migrateControl } from '../../tenancy/migrateControl.ts';
import { migrateTenants } from '../../tenancy/migrateTenants.ts';
import { parseCommand, positiveInt } from '../args.ts';
import { withServices } from '../context.ts';

export const usage = `Usage: strata migrate [--dry-run] [--tenants CODE,CODE] [--concurrency N]

Apply pending control-schema migrations, then pending tenant migrations to every
tenant schema, N schemas at a time, each under its own advisory lock.

Options:
  --dry-run           list what would run and change nothing
  --tenants LIST      only these tenant codes (comma-separated)
  --concurrency N     tenant schemas migrated at once (default STRATA_MIGRATE_CONCURRENCY, 8)

Exit status: 0 when every schema succeeded, 1 when any failed.`;

export async function run(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { 'dry-run': { type: 'boolean' }, tenants: { type: 'string' }, concurrency: { type: 'string' } },
    usage,
  );

  return withServices(async (services) => {
    const concurrency = positiveInt(options.concurrency, 'concurrency', usage, services.config.migrateConcurrency);
    const tenants = options.tenants?.split(',').map((code) => code.trim()).filter(Boolean);
    return migrateAll(services, { dryRun: options['dry-run'] === true, tenants, concurrency });
  });
}

/** Migrate control, then tenants, printing progress; returns the exit status. */
export async function migrateAll(
  services: Services,
  options: { dryRun: boolean; tenants?: string[]; concurrency: number },
  print: (line: string) => void = (line) => console.log(line),
): Promise<number> {
  const control = await migrateControl(services.pool, services.orm, { dryRun: options.dryRun });
  const verb = options.dryRun ? 'would apply' : 'applied';
  print(`control: ${control.length > 0 ? `${verb} ${control.join(', ')}` : 'up to date'}`);

  const report = await migrateTenants(services.pool, services.orm, services.log, {
    concurrency: options.concurrency,
    dryRun: options.dryRun,
    tenants: options.tenants,
    onResult: (outcome, done, total) => {
      const detail =
        outcome.status === 'FAILED'
          ? `FAILED: ${outcome.error}`
          : outcome.migrations.length > 0
            ? `${verb} ${outcome.migrations.join(', ')}`
            : 'up to date';
      print(`[${done}/${total} ${outcome.schemaName}] ${detail}`);
    },
  });

  const ok = report.outcomes.length - report.failed;
  print(`tenants: ${ok} ok, ${report.failed} failed${options.dryRun ? ' (dry run)' : ''}; run ${report.runId}`);
  return report.failed === 0 ? 0 : 1;
}
