/** The `strata-agent resume` command. */
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';

import {
  EXIT_FAILED,
  EXIT_OK,
  LOG_LEVELS,
  parseCommandArgs,
  parseLogLevel,
  parseWholeNumber,
  readToken,
  UsageError,
} from './cliArgs.ts';
import type { CliStreams } from './main.ts';
import { findSpoolDirs, resumeScan, UnfinishedWalkError } from './resumeScan.ts';
import { DEFAULT_RETRY_POLICY } from './retry.ts';
import { DEFAULT_CONCURRENCY } from './scanOptions.ts';
import { SpoolError } from './spool.ts';
import { describeFailure, formatSummaryLine } from './summaryLine.ts';

const RESUME_USAGE = `Usage: strata-agent resume --token-file FILE [options]

Finishes scans whose agent was killed or whose machine restarted. For each scan
folder in the spool (every folder with a scan.json, or only --scan GUID), it
uploads the chunks that have no .ok marker (the server did not acknowledge them),
completes the scan with the totals the walk recorded, and removes the folder.
A chunk the server had already stored is answered from its ledger, so no row is
loaded twice.

When the agent stopped before the walk finished, the scan's totals are unknown and
it cannot be completed: resume reports it and exits 1, unless --restart is given.

Required:
  --token-file FILE     File that contains the API bearer token.

Options:
  --spool DIR           Spool folder the scans were written to
                        (default: <os temp folder>/strata-agent).
  --scan GUID           Resume only this scan.
  --server URL          Base URL of the Strata API (default: the one the scan
                        recorded).
  --restart             For a scan whose walk did not finish: remove its spool
                        folder and scan the recorded root again as a new scan with
                        the recorded share and settings. The old scan stays OPEN
                        on the server.
  --concurrency N       Chunk uploads running in parallel (default ${DEFAULT_CONCURRENCY}).
  --max-attempts N      Attempts per request, the first included (default ${DEFAULT_RETRY_POLICY.maxAttempts}).
  --wait                After completing, poll each scan until the server reports
                        OK or FAILED.
  --log-level LEVEL     Minimum level of the JSON log on stderr (default warn):
                        ${LOG_LEVELS.join(', ')}.
  -h, --help            Print this help.

Prints one summary line per scan on stdout. Exit status: 0 every scan was
completed (with --wait: reported OK) or there was nothing to resume, 1 a scan
could not be finished (its spool folder is kept, except with --restart), 2 the
command line is invalid.
`;

const RESUME_OPTIONS = {
  'token-file': { type: 'string' },
  spool: { type: 'string' },
  scan: { type: 'string' },
  server: { type: 'string' },
  restart: { type: 'boolean' },
  concurrency: { type: 'string' },
  'max-attempts': { type: 'string' },
  wait: { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runResumeCommand(args: string[], streams: CliStreams): Promise<number> {
  const values = parseCommandArgs(args, RESUME_OPTIONS);
  if (values.help === true) {
    streams.stdout.write(RESUME_USAGE);
    return EXIT_OK;
  }
  if (values['token-file'] === undefined) {
    throw new UsageError('Missing required option --token-file.');
  }
  if (values.scan !== undefined && !/^[0-9a-f-]{36}$/i.test(values.scan)) {
    throw new UsageError(`Invalid --scan ${JSON.stringify(values.scan)}: expected the scan's GUID, the name of its spool folder.`);
  }

  const logLevel = parseLogLevel(values['log-level']);
  const logger = pino({ name: 'strata-agent', level: logLevel }, pino.destination({ dest: 2, sync: true }));
  const token = await readToken(values['token-file']);
  const concurrency = parseWholeNumber('--concurrency', values.concurrency);
  const maxAttempts = parseWholeNumber('--max-attempts', values['max-attempts']);
  const spoolRoot = path.resolve(values.spool ?? path.join(os.tmpdir(), 'strata-agent'));

  const spoolDirs =
    values.scan === undefined ? await findSpoolDirs(spoolRoot) : [path.join(spoolRoot, values.scan.toLowerCase())];
  if (spoolDirs.length === 0) {
    streams.stdout.write(`Nothing to resume in ${spoolRoot}.\n`);
    return EXIT_OK;
  }

  // Ctrl-C cancels the uploads and keeps the spool folder, as in scan.
  const cancel = new AbortController();
  const onInterrupt = (): void => cancel.abort(new Error('Interrupted by SIGINT'));
  process.once('SIGINT', onInterrupt);

  let failed = false;
  try {
    for (const spoolDir of spoolDirs) {
      try {
        const result = await resumeScan({
          spoolDir,
          token,
          serverUrl: values.server,
          restartUnfinished: values.restart === true,
          concurrency,
          retry: maxAttempts === undefined ? undefined : { maxAttempts },
          wait: values.wait === true,
          logger,
          signal: cancel.signal,
        });
        const action = result.outcome === 'resumed' ? `Resumed (${result.chunksSent} chunks sent)` : 'Restarted as a new scan';
        streams.stdout.write(`${action}: ${formatSummaryLine(result.summary)}\n`);
        failed ||= result.summary.status === 'FAILED';
      } catch (error) {
        // One scan's failure does not stop the others; each is reported and the exit status is 1.
        const known = error instanceof UnfinishedWalkError || error instanceof SpoolError;
        streams.stderr.write(`strata-agent resume: ${known ? error.message : describeFailure(error)}\n`);
        failed = true;
      }
      if (cancel.signal.aborted) {
        break;
      }
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
  return failed ? EXIT_FAILED : EXIT_OK;
}
