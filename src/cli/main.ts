import { ConfigError } from '../config.ts';
import { StrataError } from '../errors.ts';
import { HelpRequested, UsageError } from './args.ts';
import * as demo from './commands/demo.ts';
import * as migrate from './commands/migrate.ts';
import * as plan from './commands/plan.ts';
import * as serve from './commands/serve.ts';
import * as tenant from './commands/tenant.ts';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  demo: { summary: 'run the main job end to end on this machine', run: demo.run },
  migrate: { summary: 'apply control and tenant schema migrations', run: migrate.run },
  tenant: { summary: 'create and list tenants', run: tenant.run },
  plan: { summary: 'plan cold files of a tenant for tiering', run: plan.run },
  api: { summary: 'serve the HTTP API', run: serve.runApi },
  worker: { summary: 'run the job handlers', run: serve.runWorker },
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
  return command.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.exitCode = report(error);
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
  console.error('strata: failed:', error);
  return 1;
}
