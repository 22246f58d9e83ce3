/**
 * Command line of `strata-agent`, and the programmatic entry point `runScan` for callers
 * that run a scan in-process.
 */
import { pino } from 'pino';

import type { SourceType } from '../src/wire/contract.ts';
import { ApiRequestError } from './apiClient.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  LOG_LEVELS,
  parseCommandArgs,
  parseLogLevel,
  parseWholeNumber,
  readToken,
  UsageError,
} from './cliArgs.ts';
import { ProgressDisplay } from './progress.ts';
import { runInventoryCommand } from './inventoryCommand.ts';
import { runResumeCommand } from './resumeCommand.ts';
import { runActCommand, runRecallCommand } from './tiering/tieringCommand.ts';
import { describeFailure, formatSummaryLine } from './summaryLine.ts';
import { ScanFailedError, runScan, type ScanSummary } from './runScan.ts';
import {
  DEFAULT_CHUNK_ROWS,
  DEFAULT_CONCURRENCY,
  DEFAULT_POLL_INTERVAL_MS,
  SOURCE_TYPES,
  ScanOptionError,
  type RunScanOptions,
} from './scanOptions.ts';
import { DEFAULT_RETRY_POLICY } from './retry.ts';

export { ApiRequestError } from './apiClient.ts';
export { formatSummaryLine } from './summaryLine.ts';
export type { ScanPhase, ScanProgress } from './progress.ts';
export type { RetryPolicy } from './retry.ts';
export { resumeScan, UnfinishedWalkError, type ResumeOptions, type ResumeResult } from './resumeScan.ts';
export { runScan, ScanFailedError, type ScanSummary } from './runScan.ts';
export { ScanOptionError, type RunScanOptions } from './scanOptions.ts';

export { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './cliArgs.ts';

const PROGRAM_USAGE = `Usage: strata-agent <command> [options]

Commands:
  scan       Walk a share read-only and upload its file list to Strata as one scan.
  resume     Finish scans whose agent was killed: upload the chunks left in the spool
             folder, complete the scans, and remove their spool folders.
  act        Move the share's planned files to Tier-2 and leave stubs in their place.
  recall     Bring stubbed files back from Tier-2.
  inventory  List a filesystem or SMB Tier-2 root and upload the listing.

Run 'strata-agent <command> --help' for the options of a command.
`;

const SCAN_USAGE = `Usage: strata-agent scan --server URL --token-file FILE --share NAME --root PATH [options]

Walks the folder tree under PATH without changing it, writes one CSV row per regular
file into gzip chunk files, and uploads the chunks to the Strata API as one scan.
A name that is not valid UTF-8 is sent in the escaped form: "/" followed by the
name's bytes, with each byte outside a valid UTF-8 sequence and each "%" written as
%XX. The summary counts such names, and each one is logged as a warning.

Required:
  --server URL          Base URL of the Strata API (http or https).
  --token-file FILE     File that contains the API bearer token; surrounding
                        whitespace is ignored. The token is never printed.
  --share NAME          Name of the share the scan belongs to.
  --root PATH           Folder to scan. Symbolic links and junctions below it are
                        counted as skipped, not followed.

Options:
  --spool DIR           Folder that receives the chunk files, in a subfolder named
                        for the scan; the subfolder is removed once the scan is
                        complete (default: <os temp folder>/strata-agent). If the
                        agent is killed, 'strata-agent resume' finishes the scan
                        from it.
  --chunk-rows N        Maximum files (rows) per chunk (default ${DEFAULT_CHUNK_ROWS}).
  --source-type TYPE    Kind of file system: ${SOURCE_TYPES.join(', ')}
                        (default: NTFS on Windows, POSIX elsewhere). SMB and
                        LucidLink are walked with up to 64 lstat calls at once,
                        which hides network latency; the others with synchronous
                        calls, which are faster on a local disk.
  --concurrency N       Chunk uploads running in parallel (default ${DEFAULT_CONCURRENCY}).
  --max-attempts N      Attempts per request, the first included, before the scan
                        fails (default ${DEFAULT_RETRY_POLICY.maxAttempts}).
  --wait                After completing, poll the scan every ${DEFAULT_POLL_INTERVAL_MS / 1000} seconds until the
                        server reports OK or FAILED.
  --log-level LEVEL     Minimum level of the JSON log on stderr (default warn):
                        ${LOG_LEVELS.join(', ')}.
  --quiet               No progress line on stderr. The summary line on stdout is
                        still printed.
  -h, --help            Print this help.

Exit status: 0 the scan completed (with --wait: the server reported OK),
1 the scan failed, 2 the command line is invalid.
`;

const SCAN_OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  share: { type: 'string' },
  root: { type: 'string' },
  spool: { type: 'string' },
  'chunk-rows': { type: 'string' },
  'source-type': { type: 'string' },
  concurrency: { type: 'string' },
  'max-attempts': { type: 'string' },
  wait: { type: 'boolean' },
  'log-level': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const REQUIRED_OPTIONS = ['server', 'token-file', 'share', 'root'] as const;

/** Streams the command line writes to; tests pass their own. */
export interface CliStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
}

/** Runs the command line `argv` (without node and script) and returns the exit status. */
export async function main(
  argv: readonly string[],
  streams: CliStreams = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [command, ...rest] = argv;

  if (command === undefined || command === '-h' || command === '--help') {
    const stream = command === undefined ? streams.stderr : streams.stdout;
    stream.write(PROGRAM_USAGE);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const commands: Record<string, (args: string[], streams: CliStreams) => Promise<number>> = {
    scan: runScanCommand,
    resume: runResumeCommand,
    act: runActCommand,
    recall: runRecallCommand,
    inventory: runInventoryCommand,
  };
  const run = commands[command];
  if (run === undefined) {
    streams.stderr.write(`strata-agent: unknown command ${JSON.stringify(command)}. Run 'strata-agent --help' for the commands.\n`);
    return EXIT_USAGE;
  }

  try {
    return await run(rest, streams);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ScanOptionError) {
      streams.stderr.write(`strata-agent ${command}: ${error.message}\nRun 'strata-agent ${command} --help' for the options.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

async function runScanCommand(args: string[], streams: CliStreams): Promise<number> {
  const values = parseCommandArgs(args, SCAN_OPTIONS);
  if (values.help === true) {
    streams.stdout.write(SCAN_USAGE);
    return EXIT_OK;
  }

  const missing = REQUIRED_OPTIONS.filter((name) => values[name] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`Missing required option${missing.length > 1 ? 's' : ''} ${missing.map((name) => `--${name}`).join(', ')}.`);
  }

  const logLevel = parseLogLevel(values['log-level']);

  const maxAttempts = parseWholeNumber('--max-attempts', values['max-attempts']);
  const options: RunScanOptions = {
    serverUrl: values.server!,
    token: await readToken(values['token-file']!),
    shareName: values.share!,
    rootPath: values.root!,
    sourceType: parseSourceType(values['source-type']),
    spoolRoot: values.spool,
    chunkRows: parseWholeNumber('--chunk-rows', values['chunk-rows']),
    concurrency: parseWholeNumber('--concurrency', values.concurrency),
    retry: maxAttempts === undefined ? undefined : { maxAttempts },
    wait: values.wait === true,
    logger: pino({ name: 'strata-agent', level: logLevel }, pino.destination({ dest: 2, sync: true })),
  };

  const display = values.quiet === true ? undefined : new ProgressDisplay(streams.stderr);
  if (display !== undefined) {
    options.onProgress = (progress) => display.update(progress);
  }

  // Ctrl-C cancels the uploads and keeps the spool folder; a second Ctrl-C kills at once.
  const cancel = new AbortController();
  const onInterrupt = (): void => cancel.abort(new Error('Interrupted by SIGINT'));
  process.once('SIGINT', onInterrupt);

  display?.start();
  try {
    const summary = await runScan({ ...options, signal: cancel.signal });

    display?.stop();
    streams.stdout.write(`${formatSummaryLine(summary)}\n`);
    return summary.status === 'FAILED' ? EXIT_FAILED : EXIT_OK;
  } catch (error) {
    display?.stop();
    if (error instanceof ScanOptionError) {
      throw error;
    }
    streams.stderr.write(`strata-agent: ${describeFailure(error)}\n`);
    return EXIT_FAILED;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

function parseSourceType(value: string | undefined): SourceType | undefined {
  if (value === undefined) {
    return undefined;
  }
  const match = SOURCE_TYPES.find((type) => type.toLowerCase() === value.toLowerCase());
  if (match === undefined) {
    throw new UsageError(`Invalid --source-type ${JSON.stringify(value)}: expected one of ${SOURCE_TYPES.join(', ')}.`);
  }
  return match;
}
