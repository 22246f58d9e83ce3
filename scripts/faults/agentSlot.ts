/**
 * One agent of the fault run: `strata-agent scan --wait` run as a real process over the
 * same tree, one scan after another, until the run stops it. Each run's summary line and
 * retries are recorded. The agent retries on its own, and the run never helps it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { logEvent } from './eventLog.ts';
import type { FaultTree } from './faultTree.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const AGENT_BIN = path.join(REPO_ROOT, 'agent/strata-agent.mjs');

/** The agent's summary line on stdout, e.g. `Scan 0b4e… OK: 2,000 files (96.0 KiB) in 81 folders, …`. */
const SUMMARY_LINE = /^Scan ([0-9a-f-]{36}) ([A-Z]+): ([\d,]+) files? /;

/** The agent's failure message on stderr once a scan was opened. */
const FAILURE_LINE = /^strata-agent: Scan ([0-9a-f-]{36}) failed: /;

export interface AgentSlotOptions {
  /** Number of the agent, from 1. */
  slot: number;
  tree: FaultTree;
  shareName: string;
  /** Tenant schema the agent's token belongs to. */
  schema: string;
  serverUrl: string;
  tokenFile: string;
  chunkRows: number;
  /** The agent's `--max-attempts`; undefined keeps the agent's default. */
  maxAttempts: number | undefined;
  spoolDir: string;
  /** File that receives the agents' stderr lines, appended across runs. */
  logFile: string;
}

/** One `strata-agent scan` process from start to exit. */
export interface AgentRun {
  slot: number;
  schema: string;
  /** Scan GUID from the summary line or the failure message; undefined when no scan was opened. */
  scanGuid: string | undefined;
  /** Status in the summary line (OK or FAILED with --wait); undefined when the agent failed. */
  status: string | undefined;
  /** Files the agent counted, from its summary line. */
  files: number | undefined;
  /** Exit code or signal, such as `exit code 0`. */
  exit: string;
  /** Retries by the start of their failure, such as `HTTP 500` or `fetch failed`. */
  retries: Map<string, number>;
  /** Most failed attempts of one request, from the `attempt` field of the agent's retry log lines. */
  maxFailedAttempts: number;
  /** The agent's failure message, when it printed one. */
  failure: string | undefined;
}

export class AgentSlot {
  readonly options: AgentSlotOptions;
  readonly runs: AgentRun[] = [];
  readonly #log: WriteStream;
  #child: ChildProcess | undefined;

  constructor(options: AgentSlotOptions) {
    this.options = options;
    this.#log = createWriteStream(options.logFile, { flags: 'a' });
  }

  /** Run scans one after another; the first always runs, each later one only while `keepGoing()` holds. */
  async runWhile(keepGoing: () => boolean): Promise<void> {
    do {
      const run = await this.#runOnce();
      this.runs.push(run);
      logEvent(`agent ${this.options.slot}: scan ${run.scanGuid ?? '(none opened)'} ${run.status ?? 'FAILED'} (${run.exit})`);
      // An agent that failed is not started again: its scan stays open, which the
      // comparison reports, and a new scan would hide what happened.
      if (run.exit !== 'exit code 0') return;
    } while (keepGoing());
  }

  /** Kill the running agent with SIGKILL, when the run gives up waiting for it. */
  kill(): void {
    this.#child?.kill('SIGKILL');
  }

  close(): void {
    this.#log.end();
  }

  async #runOnce(): Promise<AgentRun> {
    const options = this.options;
    const args = [
      AGENT_BIN, 'scan',
      '--server', options.serverUrl,
      '--token-file', options.tokenFile,
      '--share', options.shareName,
      '--root', options.tree.root,
      '--spool', options.spoolDir,
      '--chunk-rows', String(options.chunkRows),
      '--wait', '--quiet', '--log-level', 'warn',
    ];
    if (options.maxAttempts !== undefined) args.push('--max-attempts', String(options.maxAttempts));

    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.#child = child;
    this.#log.write(`--- agent ${options.slot} started with pid ${child.pid}\n`);

    const run: AgentRun = {
      slot: options.slot,
      schema: options.schema,
      scanGuid: undefined,
      status: undefined,
      files: undefined,
      exit: 'running',
      retries: new Map(),
      maxFailedAttempts: 0,
      failure: undefined,
    };
    createInterface({ input: child.stdout! }).on('line', (line) => this.#readSummary(run, line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.#readLogLine(run, line));

    // 'close' comes after the output streams ended, so the summary line has been read.
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    run.exit = signal === null ? `exit code ${code}` : `signal ${signal}`;
    this.#child = undefined;
    return run;
  }

  #readSummary(run: AgentRun, line: string): void {
    this.#log.write(`[stdout] ${line}\n`);
    const match = SUMMARY_LINE.exec(line);
    if (match === null) return;
    run.scanGuid = match[1];
    run.status = match[2];
    run.files = Number(match[3]!.replaceAll(',', ''));
  }

  #readLogLine(run: AgentRun, line: string): void {
    this.#log.write(`${line}\n`);

    const failure = FAILURE_LINE.exec(line);
    if (failure !== null) {
      run.scanGuid = failure[1];
      run.failure = line;
      return;
    }
    if (line.startsWith('strata-agent: ')) {
      run.failure = line;
      return;
    }

    let entry: { msg?: unknown; failure?: unknown; attempt?: unknown };
    try {
      entry = JSON.parse(line) as { msg?: unknown; failure?: unknown; attempt?: unknown };
    } catch {
      // Not a log line of the agent, such as a stack trace; it is in the log file.
      return;
    }
    if (typeof entry.msg === 'string' && entry.msg.startsWith('Retrying') && typeof entry.failure === 'string') {
      const cause = retryCause(entry.failure);
      run.retries.set(cause, (run.retries.get(cause) ?? 0) + 1);
      if (typeof entry.attempt === 'number') run.maxFailedAttempts = Math.max(run.maxFailedAttempts, entry.attempt);
    }
  }
}

/** Short cause of a retry: `HTTP 500`, `HTTP 409 CHUNK_IN_FLIGHT` or the network error before its detail. */
function retryCause(failure: string): string {
  const http = /^HTTP \d+( [A-Z_]+)?/.exec(failure);
  if (http !== null) return http[0];
  return failure.split(':')[0]!;
}
