/** The `strata-agent act` and `strata-agent recall` commands. */
import { pino } from 'pino';

import type { ActionKind } from '../../src/wire/acting.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  LOG_LEVELS,
  parseCommandArgs,
  parseLogLevel,
  parseWholeNumber,
  readToken,
  UsageError,
} from '../cliArgs.ts';
import { formatBytes, formatCount, ProgressDisplay } from '../progress.ts';
import { DEFAULT_RETRY_POLICY } from '../retry.ts';
import { describeFailure } from '../summaryLine.ts';
import type { ActionProgress } from './runActions.ts';

/** Shortest lease the server grants (the claim schema's lower bound). */
const MIN_LEASE_SECONDS = 5;
import { DEFAULT_CLAIM_BATCH, DEFAULT_FILE_CONCURRENCY, runTiering, type TieringOptions } from './runTiering.ts';
import { STUB_SIZE_BYTES } from './stub.ts';

/** Exit status when the run finished but some files FAILED or some results were rejected. */
export const EXIT_INCOMPLETE = 3;

const COMMON_OPTIONS_HELP = `Required:
  --server URL          Base URL of the Strata API (http or https).
  --token-file FILE     File that contains an API token with the act scope;
                        surrounding whitespace is ignored. The token is never printed.
  --share NAME          Share whose actions to run.

Options:
  --concurrency N       Files worked on at once (default ${DEFAULT_FILE_CONCURRENCY}).
  --claim-batch N       Actions claimed per request (default ${DEFAULT_CLAIM_BATCH}).
  --lease-seconds N     Lease asked for with each claim and renewal, in seconds;
                        the server bounds it and uses its default when this is
                        not given. Leases are renewed once half has gone by.
  --max-files N         Stop after claiming N actions (default: no limit).
  --max-attempts N      Attempts per API request, the first included
                        (default ${DEFAULT_RETRY_POLICY.maxAttempts}).
  --log-level LEVEL     Minimum level of the JSON log on stderr (default warn):
                        ${LOG_LEVELS.join(', ')}.
  --quiet               No progress line on stderr. The summary line on stdout is
                        still printed.
  -h, --help            Print this help.

Exit status: 0 every claimed file was done or found changed (STALE), 1 the run
failed (API unreachable, target unusable), 2 the command line is invalid, 3 the
run ended but some files FAILED or the server rejected some results.
`;

const ACT_USAGE = `Usage: strata-agent act --server URL --token-file FILE --share NAME [options]

Moves the share's planned files to its Tier-2 target and leaves a stub in each
one's place. The agent claims files in batches and, for each file: checks that
its size, modification time and file id are those of the scan, else reports it
STALE and leaves it alone; copies it to Tier-2 while hashing it (SHA-256); reads
the stored copy back and compares size and SHA-256; writes a stub of
${STUB_SIZE_BYTES} bytes over the file's start, cuts the file to it and flushes it,
keeping the original's mode and times (programs, and files the agent may not write
to, get the stub under a temporary name in the same folder, renamed over them); on
Windows marks the stub offline (FILE_ATTRIBUTE_OFFLINE) through one powershell.exe
helper per run; reports STUBBED. A stub that cannot be marked offline is still reported
STUBBED and counted in the summary as unmarked. A killed run leaves each file
either as it was or as a stub of a verified copy; running the command again
finishes the job.

${COMMON_OPTIONS_HELP}`;

const RECALL_USAGE = `Usage: strata-agent recall --server URL --token-file FILE --share NAME [--pattern GLOB] [options]

Brings stubbed files of the share back from its Tier-2 target. For each claimed
file the agent streams the Tier-2 object into a temporary file beside the stub
while hashing it, checks size and SHA-256 against what was tiered, restores the
original modification time, renames it over the stub and reports REHYDRATED.
The Tier-2 object is kept.

  --pattern GLOB        Only files whose full path matches: "*" within a path
                        segment, "**" across segments.

${COMMON_OPTIONS_HELP}`;

const OPTIONS = {
  server: { type: 'string' },
  'token-file': { type: 'string' },
  share: { type: 'string' },
  pattern: { type: 'string' },
  concurrency: { type: 'string' },
  'claim-batch': { type: 'string' },
  'lease-seconds': { type: 'string' },
  'max-files': { type: 'string' },
  'max-attempts': { type: 'string' },
  'log-level': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const REQUIRED_OPTIONS = ['server', 'token-file', 'share'] as const;

export async function runActCommand(args: string[], streams: { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream }): Promise<number> {
  return runTieringCommand('tier', args, streams);
}

export async function runRecallCommand(args: string[], streams: { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream }): Promise<number> {
  return runTieringCommand('recall', args, streams);
}

async function runTieringCommand(
  kind: ActionKind,
  args: string[],
  streams: { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream },
): Promise<number> {
  const values = parseCommandArgs(args, OPTIONS);
  if (values.help === true) {
    streams.stdout.write(kind === 'tier' ? ACT_USAGE : RECALL_USAGE);
    return EXIT_OK;
  }
  const missing = REQUIRED_OPTIONS.filter((name) => values[name] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`Missing required option${missing.length > 1 ? 's' : ''} ${missing.map((name) => `--${name}`).join(', ')}.`);
  }
  if (kind === 'tier' && values.pattern !== undefined) {
    throw new UsageError('--pattern applies to recall only; act runs the files the plan selected.');
  }

  const logLevel = parseLogLevel(values['log-level']);
  const leaseSeconds = parseWholeNumber('--lease-seconds', values['lease-seconds']);
  if (leaseSeconds !== undefined && leaseSeconds < MIN_LEASE_SECONDS) {
    // The server would reject every claim with a shorter lease.
    throw new UsageError(`Invalid --lease-seconds ${leaseSeconds}: expected at least ${MIN_LEASE_SECONDS}, the shortest lease the server grants.`);
  }
  const maxAttempts = parseWholeNumber('--max-attempts', values['max-attempts']);
  const options: TieringOptions = {
    serverUrl: values.server!,
    token: await readToken(values['token-file']!),
    share: values.share!,
    kind,
    pattern: values.pattern,
    concurrency: parseWholeNumber('--concurrency', values.concurrency),
    claimBatch: parseWholeNumber('--claim-batch', values['claim-batch']),
    leaseSeconds,
    maxActions: parseWholeNumber('--max-files', values['max-files']),
    retry: maxAttempts === undefined ? undefined : { maxAttempts },
    logger: pino({ name: 'strata-agent', level: logLevel }, pino.destination({ dest: 2, sync: true })),
  };

  const display = values.quiet === true ? undefined : new ProgressDisplay<ActionProgress>(streams.stderr, formatActionProgress);
  if (display !== undefined) {
    options.onProgress = (progress) => display.update({ ...progress, outcomes: { ...progress.outcomes } });
  }

  // Ctrl-C stops claiming and starting files, and the files in progress are finished,
  // so each is left whole. A second Ctrl-C kills at once.
  const cancel = new AbortController();
  const onInterrupt = (): void => cancel.abort(new Error('Interrupted by SIGINT'));
  process.once('SIGINT', onInterrupt);

  display?.start();
  try {
    const progress = await runTiering({ ...options, signal: cancel.signal });
    display?.stop();
    streams.stdout.write(`${formatActionSummary(progress)}\n`);
    return progress.outcomes.FAILED > 0 || progress.rejected > 0 ? EXIT_INCOMPLETE : EXIT_OK;
  } catch (error) {
    display?.stop();
    streams.stderr.write(`strata-agent: ${describeFailure(error)}\n`);
    return EXIT_FAILED;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

function verb(kind: ActionKind): string {
  return kind === 'tier' ? 'act' : 'recall';
}

/** Formats one progress line, e.g. "act: 1,200 claimed, 1,100 stubbed (40/s), 3 stale, 0 failed". */
export function formatActionProgress(progress: ActionProgress): string {
  const done = progress.kind === 'tier' ? progress.outcomes.STUBBED : progress.outcomes.REHYDRATED;
  const rate = progress.elapsedSeconds > 0 ? Math.round(done / progress.elapsedSeconds) : 0;
  return (
    `${verb(progress.kind)}: ${formatCount(progress.claimed)} claimed, ${formatCount(done)} ` +
    `${progress.kind === 'tier' ? 'stubbed' : 'rehydrated'} (${formatCount(rate)}/s), ` +
    `${formatCount(progress.outcomes.STALE)} stale, ${formatCount(progress.outcomes.FAILED)} failed`
  );
}

/** Formats the summary line on stdout, whose key=value fields scripts may parse. */
export function formatActionSummary(progress: ActionProgress): string {
  return (
    `${verb(progress.kind)} finished: claimed=${progress.claimed} stubbed=${progress.outcomes.STUBBED} ` +
    `rehydrated=${progress.outcomes.REHYDRATED} stale=${progress.outcomes.STALE} failed=${progress.outcomes.FAILED} ` +
    `expired=${progress.expired} rejected=${progress.rejected} unmarked=${progress.unmarked} bytes=${progress.bytes} (${formatBytes(progress.bytes)}) ` +
    `seconds=${progress.elapsedSeconds.toFixed(1)}`
  );
}
