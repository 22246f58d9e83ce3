import { pino } from 'pino';

import { EXIT_FAILED, EXIT_OK, LOG_LEVELS, parseCommandArgs, parseLogLevel, parseWholeNumber, readToken, UsageError } from './cliArgs.ts';
import type { CliStreams } from './main.ts';
import { DEFAULT_RETRY_POLICY } from './retry.ts';
import { describeFailure } from './summaryLine.ts';
import { DEFAULT_INVENTORY_CHUNK_OBJECTS, runInventory } from './runInventory.ts';

export const INVENTORY_USAGE = `Usage: strata-agent inventory --server URL --token-file FILE --share NAME --root PATH [options]

Lists every object under a filesystem or SMB Tier-2 root (the folder the share's
target names) and uploads the listing to Strata as one inventory, which
reconciliation compares with the plan and the stubs. Reads only; changes nothing.

Required:
  --server URL          Base URL of the Strata API (http or https).
  --token-file FILE     File that contains a token with the inventory scope.
  --share NAME          The share whose Tier-2 root this is.
  --root PATH           The Tier-2 root folder.

Options:
  --chunk-objects N     Objects per uploaded chunk, 1 to 1000 (default ${DEFAULT_INVENTORY_CHUNK_OBJECTS}).
  --max-attempts N      Attempts per request, the first included.
  --log-level LEVEL     Minimum level of the JSON log on stderr (default warn):
                        ${LOG_LEVELS.join(', ')}.
  -h, --help            Print this help.

Exit status: 0 the inventory is complete, 1 it failed, 2 the command line is invalid.
`;

const OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  share: { type: 'string' },
  root: { type: 'string' },
  'chunk-objects': { type: 'string' },
  'max-attempts': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Runs `strata-agent inventory` and returns the exit status. */
export async function runInventoryCommand(args: string[], streams: CliStreams): Promise<number> {
  const values = parseCommandArgs(args, OPTIONS);
  if (values.help === true) {
    streams.stdout.write(INVENTORY_USAGE);
    return EXIT_OK;
  }
  const missing = (['server', 'token-file', 'share', 'root'] as const).filter((name) => values[name] === undefined);
  if (missing.length > 0) throw new UsageError(`Missing required option${missing.length > 1 ? 's' : ''} ${missing.map((name) => `--${name}`).join(', ')}.`);

  const maxAttempts = parseWholeNumber('--max-attempts', values['max-attempts']);
  const chunkObjects = parseWholeNumber('--chunk-objects', values['chunk-objects']);
  if (chunkObjects !== undefined && (chunkObjects < 1 || chunkObjects > 1000)) {
    throw new UsageError(`Invalid --chunk-objects ${chunkObjects}: expected 1 to 1000, the maximum page size of a listing.`);
  }
  const logger = pino({ name: 'strata-agent', level: parseLogLevel(values['log-level']) }, pino.destination({ dest: 2, sync: true }));
  try {
    const status = await runInventory({
      serverUrl: values.server!,
      token: await readToken(values['token-file']!),
      share: values.share!,
      root: values.root!,
      chunkObjects,
      retry: maxAttempts === undefined ? undefined : { ...DEFAULT_RETRY_POLICY, maxAttempts },
      logger,
    });
    streams.stdout.write(`inventory ${status.inventoryGuid} of share ${status.share}: ${status.status}, ${status.objectCount} objects, ${status.totalBytes} bytes\n`);
    return status.status === 'COMPLETE' ? EXIT_OK : EXIT_FAILED;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    streams.stderr.write(`strata-agent: ${describeFailure(error)}\n`);
    return EXIT_FAILED;
  }
}
