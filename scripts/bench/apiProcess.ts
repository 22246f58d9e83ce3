/**
 * Child processes for benchmarks: `strata api` and `strata worker` started as the
 * deployment starts them (`node src/cli/strata.mjs ROLE`), watched for an early exit,
 * and stopped by PID with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STRATA_CLI = path.join(REPO_ROOT, 'src/cli/strata.mjs');

/** pino's numeric level for `warn`. Child log lines below it are not shown. */
const PINO_WARN = 40;

/** Time allowed for a child to start listening or to register its job handlers. */
const START_TIMEOUT_MS = 60_000;

/** `strata` waits up to 30 s for running jobs on SIGTERM, so a little more is allowed here. */
const STOP_TIMEOUT_MS = 40_000;

/** Children that `stopProcess` has signalled, whose exit is therefore expected. */
const stopping = new WeakSet<ChildProcess>();

export interface StrataProcess {
  /** Name used in messages, such as "api 1" or "worker". */
  label: string;
  child: ChildProcess;
  /** Base URL of the API, or undefined for a worker. */
  url: string | undefined;
  /** Settles when the process exits, with its exit code or signal. */
  exited: Promise<string>;
  /**
   * Rejects if the process exits before `stopProcess` is called, so a crash during a
   * measurement fails the run instead of stalling it. Never resolves.
   */
  crashed: Promise<never>;
}

/** Return a TCP port on 127.0.0.1 that was free a moment ago. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');

  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('could not read the port of a probe socket');
  return address.port;
}

/**
 * Start `strata api` on 127.0.0.1 at a free port and wait until /readyz returns 200.
 * The process logs at `warn`, so request logging does not compete with the uploads.
 */
export async function startApi(label: string, env: Record<string, string>): Promise<StrataProcess> {
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const api = spawnStrata(label, 'api', url, {
    ...env,
    STRATA_HTTP_HOST: '127.0.0.1',
    STRATA_HTTP_PORT: String(port),
    STRATA_LOG_LEVEL: 'warn',
  }, () => {});

  try {
    await waitForReady(api, url);
  } catch (error) {
    await stopProcess(api);
    throw error;
  }
  return api;
}

/**
 * Start `strata worker` and wait for its "worker started" log line. The worker has no
 * HTTP endpoint, so it runs at log level `info` to emit that line. Only `warn` and
 * above are passed on to stderr.
 */
export async function startWorker(label: string, env: Record<string, string>): Promise<StrataProcess> {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const worker = spawnStrata(label, 'worker', undefined, { ...env, STRATA_LOG_LEVEL: 'info' }, (entry) => {
    if (entry.msg === 'worker started') markStarted();
  });

  try {
    await raceStart(worker, () => started);
  } catch (error) {
    await stopProcess(worker);
    throw error;
  }
  return worker;
}

/** Send SIGTERM to the process's PID and wait for it to exit; SIGKILL it if it does not. */
export async function stopProcess(proc: StrataProcess): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;

  stopping.add(proc.child);
  proc.child.kill('SIGTERM');
  const done = new AbortController();
  const timeout = sleep(STOP_TIMEOUT_MS, 'timeout', { signal: done.signal }).catch(() => 'stopped');
  const result = await Promise.race([proc.exited, timeout]);
  done.abort();
  if (result === 'timeout') {
    console.error(`${proc.label} (pid ${proc.child.pid}) did not exit ${STOP_TIMEOUT_MS / 1000} s after SIGTERM; sending SIGKILL`);
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

function spawnStrata(
  label: string,
  role: 'api' | 'worker',
  url: string | undefined,
  env: Record<string, string>,
  onLogEntry: (entry: { level?: number; msg?: string }) => void,
): StrataProcess {
  const child = spawn(process.execPath, [STRATA_CLI, role], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own keeps a Ctrl-C in the terminal from reaching the child
    // directly: the benchmark then stops it by PID after ending the measurement.
    detached: true,
  });

  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
    // A process that failed to spawn has no PID and may never emit 'exit'.
    child.once('error', (error) => {
      if (child.pid === undefined) resolve(`spawn failure: ${error.message}`);
    });
  });
  const crashed = new Promise<never>((_resolve, reject) => {
    void exited.then((how) => {
      if (!stopping.has(child)) reject(new Error(`${label} (pid ${child.pid}) exited unexpectedly with ${how}; see its log lines above`));
    });
  });
  // Marked as handled, because no caller may be awaiting it when the process crashes.
  crashed.catch(() => {});

  forwardLog(label, child, onLogEntry);
  return { label, child, url, exited, crashed };
}

/** Pass the child's warnings, errors and non-JSON output to stderr, prefixed with its label. */
function forwardLog(label: string, child: ChildProcess, onLogEntry: (entry: { level?: number; msg?: string }) => void): void {
  const handleLine = (line: string): void => {
    let entry: { level?: number; msg?: string } | undefined;
    try {
      entry = JSON.parse(line) as { level?: number; msg?: string };
    } catch {
      // A stack trace or other plain text, such as a start-up failure before the logger exists.
    }
    if (entry && typeof entry === 'object') onLogEntry(entry);
    if (!entry || typeof entry !== 'object' || (entry.level ?? PINO_WARN) >= PINO_WARN) {
      console.error(`[${label}] ${line}`);
    }
  };

  createInterface({ input: child.stdout! }).on('line', handleLine);
  createInterface({ input: child.stderr! }).on('line', handleLine);
}

async function waitForReady(proc: StrataProcess, url: string): Promise<void> {
  await raceStart(proc, async (signal) => {
    while (!signal.aborted) {
      try {
        const response = await fetch(`${url}/readyz`, { signal: AbortSignal.any([signal, AbortSignal.timeout(2_000)]) });
        await response.arrayBuffer();
        if (response.ok) return;
      } catch {
        // The API is not listening yet. The start timeout or the crash watch ends this loop.
      }
      await sleep(100, undefined, { signal }).catch(() => {});
    }
  });
}

/**
 * Run `waitUntilReady`, failing if the process exits first or the start timeout passes.
 * The signal given to `waitUntilReady` is aborted once the race is decided.
 */
async function raceStart(proc: StrataProcess, waitUntilReady: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const done = new AbortController();
  const timeout = sleep(START_TIMEOUT_MS, undefined, { signal: done.signal }).then(() => {
    throw new Error(`${proc.label} (pid ${proc.child.pid}) was not ready ${START_TIMEOUT_MS / 1000} s after start`);
  });
  timeout.catch(() => {});

  try {
    await Promise.race([waitUntilReady(done.signal), proc.crashed, timeout]);
  } finally {
    done.abort();
  }
}
