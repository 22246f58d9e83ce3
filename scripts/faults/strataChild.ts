/**
 * One `strata api` or `strata worker` child process of the fault run, started as a
 * deployment starts it (`node src/cli/strata.mjs ROLE`), killed with SIGKILL on request
 * and started again. An API keeps its port across restarts, so the agents' `--server`
 * stays valid. A process that exits on its own is recorded and started again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { elapsedSeconds, logEvent } from './eventLog.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STRATA_CLI = path.join(REPO_ROOT, 'src/cli/strata.mjs');

/** Time allowed for one start, from spawn until the process is ready. */
const START_TIMEOUT_MS = 60_000;

/** Pause before starting again a process that failed to start, for example while PostgreSQL is down. */
const START_RETRY_DELAY_MS = 1_000;

/** Start attempts before giving up; with the pause above they span well over a minute. */
const MAX_START_ATTEMPTS = 30;

/** `strata` waits up to 30 s for running jobs on SIGTERM, so a little more is allowed here. */
const STOP_TIMEOUT_MS = 40_000;

export type StrataRole = 'api' | 'worker';

export interface StrataChildOptions {
  /** Name in messages and the `application_name` suffix, such as `api-1`. */
  label: string;
  role: StrataRole;
  /** Connection string for this process; its `application_name` identifies its connections. */
  databaseUrl: string;
  /** Port of an API, fixed for the whole run. */
  port?: number;
  /** File that receives the process's log lines; it is appended to across restarts. */
  logFile: string;
}

/** An exit the run did not request: the process crashed or stopped by itself. */
export interface UnexpectedExit {
  label: string;
  pid: number | undefined;
  /** Exit code or signal, such as `exit code 1`. */
  exitStatus: string;
  atSeconds: number;
}

export class StrataChild {
  readonly label: string;
  readonly role: StrataRole;
  readonly #options: StrataChildOptions;
  readonly #log: WriteStream;
  readonly #onUnexpectedExit: (exit: UnexpectedExit) => void;
  #child: ChildProcess | undefined;
  /** Resolves when the current process logs that its worker started. */
  #workerStarted: Promise<void> = Promise.resolve();
  /** True from the moment the process is ready until the run ends it; an exit then is unexpected. */
  #running = false;
  /** Start in progress after an unexpected exit; kill() and stop() wait for it. */
  #restarting: Promise<void> | undefined;
  #closed = false;

  constructor(options: StrataChildOptions, onUnexpectedExit: (exit: UnexpectedExit) => void) {
    this.label = options.label;
    this.role = options.role;
    this.#options = options;
    this.#log = createWriteStream(options.logFile, { flags: 'a' });
    this.#onUnexpectedExit = onUnexpectedExit;
  }

  /** Base URL of an API; undefined for a worker. */
  get url(): string | undefined {
    return this.#options.port === undefined ? undefined : `http://127.0.0.1:${this.#options.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Start the process and wait until it is ready: an API returns 200 from /readyz, and a
   * worker logs "worker started". A start that fails (PostgreSQL down, for example) is
   * tried again after a second, up to MAX_START_ATTEMPTS times.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const child = this.#spawn();
      try {
        await this.#waitUntilReady(child);
        this.#running = true;
        return;
      } catch (error) {
        await this.#end(child, 'SIGKILL');
        if (this.#closed || attempt >= MAX_START_ATTEMPTS) {
          throw new Error(`${this.label} did not start after ${attempt} attempts: ${(error as Error).message}`, { cause: error });
        }
        this.#write(`--- start attempt ${attempt} failed: ${(error as Error).message}`);
        await sleep(START_RETRY_DELAY_MS);
      }
    }
  }

  /** Kill the process with SIGKILL and wait for its exit. Returns the PID it had. */
  async kill(): Promise<number | undefined> {
    // A failed restart was logged already; the caller's next start() tries again.
    await this.#restarting?.catch(() => {});
    const child = this.#child;
    const pid = child?.pid;
    if (child !== undefined) await this.#end(child, 'SIGKILL');
    return pid;
  }

  /** Send SIGKILL without waiting, for a run that is being interrupted and cannot wait. */
  killNow(): void {
    this.#closed = true;
    this.#running = false;
    this.#child?.kill('SIGKILL');
  }

  /** Stop the process with SIGTERM, as systemd would, and SIGKILL it if it does not exit in time. */
  async stop(): Promise<void> {
    this.#closed = true;
    await this.#restarting?.catch(() => {});
    const child = this.#child;
    if (child !== undefined) await this.#end(child, 'SIGTERM');
    this.#log.end();
  }

  #spawn(): ChildProcess {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: this.#options.databaseUrl,
      // Info level, because the worker reports that it is ready in an info line. The
      // lines go to a file, so request logs cost the run little.
      STRATA_LOG_LEVEL: 'info',
      // Every scan of the run is compared with what its agent sent, so none may expire.
      STRATA_SCAN_RETENTION: '1000',
      // The run's own PostgreSQL is reached as its superuser.
      STRATA_ALLOW_SUPERUSER: '1',
    };
    if (this.#options.port !== undefined) {
      env.STRATA_HTTP_HOST = '127.0.0.1';
      env.STRATA_HTTP_PORT = String(this.#options.port);
    }

    const child = spawn(process.execPath, [STRATA_CLI, this.role], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A process group of its own keeps a Ctrl-C in the terminal from reaching it
      // directly: the run stops it by PID on its way out.
      detached: true,
    });
    this.#child = child;
    this.#write(`--- ${this.label} started with pid ${child.pid}`);

    let markStarted!: () => void;
    this.#workerStarted = new Promise((resolve) => (markStarted = resolve));
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.#write(line);
        if (line.includes('"msg":"worker started"')) markStarted();
      });
    }
    child.once('exit', (code, signal) => {
      const exitStatus = signal === null ? `exit code ${code}` : `signal ${signal}`;
      this.#write(`--- ${this.label} (pid ${child.pid}) ended with ${exitStatus}`);
      // An exit during start() is handled there, by the next start attempt.
      if (this.#running && this.#child === child && !this.#closed) this.#restartAfterUnexpectedExit(child, exitStatus);
    });
    return child;
  }

  #restartAfterUnexpectedExit(child: ChildProcess, exitStatus: string): void {
    this.#onUnexpectedExit({ label: this.label, pid: child.pid, exitStatus, atSeconds: elapsedSeconds() });
    this.#running = false;
    this.#restarting = (async () => {
      await sleep(START_RETRY_DELAY_MS);
      await this.start();
      logEvent(`${this.label} started again with pid ${this.pid} after it exited on its own`);
    })().finally(() => {
      this.#restarting = undefined;
    });
    // A failed start is logged here. kill() and stop() then find the process down, and
    // the run's next start() of it tries again.
    this.#restarting.catch((error: unknown) => logEvent(`${this.label} could not be started again: ${(error as Error).message}`));
  }

  async #waitUntilReady(child: ChildProcess): Promise<void> {
    const done = new AbortController();
    const exited = once(child, 'exit', { signal: done.signal }).then(([code, signal]) => {
      throw new Error(`exited during start with ${signal === null ? `exit code ${code}` : `signal ${signal}`}; see ${this.#options.logFile}`);
    });
    const timeout = sleep(START_TIMEOUT_MS, undefined, { signal: done.signal }).then(() => {
      throw new Error(`not ready ${START_TIMEOUT_MS / 1000} s after spawn; see ${this.#options.logFile}`);
    });
    exited.catch(() => {});
    timeout.catch(() => {});

    try {
      const ready = this.role === 'api' ? this.#waitForReadyz(done.signal) : this.#workerStarted;
      await Promise.race([ready, exited, timeout]);
    } finally {
      done.abort();
    }
  }

  async #waitForReadyz(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const response = await fetch(`${this.url}/readyz`, { signal: AbortSignal.any([signal, AbortSignal.timeout(2_000)]) });
        await response.arrayBuffer();
        if (response.ok) return;
      } catch {
        // Not listening yet; the start timeout or the exit watch ends this loop.
      }
      await sleep(100, undefined, { signal }).catch(() => {});
    }
  }

  /** Signal the process and wait for its exit; a SIGTERM not obeyed in time is followed by SIGKILL. */
  async #end(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    this.#running = false;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);

    if (signal === 'SIGTERM') {
      const timer = new AbortController();
      const timeout = sleep(STOP_TIMEOUT_MS, 'timeout' as const, { signal: timer.signal }).catch(() => 'cancelled' as const);
      const outcome = await Promise.race([exited, timeout]);
      timer.abort();
      if (outcome !== 'timeout') return;
      logEvent(`${this.label} (pid ${child.pid}) did not exit ${STOP_TIMEOUT_MS / 1000} s after SIGTERM; sending SIGKILL`);
      child.kill('SIGKILL');
    }
    await exited;
  }

  #write(line: string): void {
    this.#log.write(`${line}\n`);
  }
}
