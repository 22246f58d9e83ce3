import { spawn, type ChildProcess } from 'node:child_process';

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

/** A server started as a child process of the test run. */
export interface ChildServer {
  /** The first capture group of `ready` in the child's output, e.g. its URL or port. */
  ready: string;
  stop(): Promise<void>;
}

/**
 * Start `node [nodeOptions] script args` in `cwd` and wait until its output matches
 * `ready`. `stop` sends SIGTERM to that child alone (SIGKILL after 10 s) and waits for
 * it to exit. A child that never became ready is stopped before the error is thrown.
 */
export async function startChildServer(label: string, script: string, args: string[], ready: RegExp, options: { cwd: string; nodeOptions?: string[] }): Promise<ChildServer> {
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), script, ...args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const match = await readyMatch(label, child, ready);
    return { ready: match, stop: () => stopChild(child) };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

function readyMatch(label: string, child: ChildProcess, ready: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${label} did not start within ${STARTUP_TIMEOUT_MS} ms; output:\n${output}`)), STARTUP_TIMEOUT_MS);
    const onData = (data: Buffer) => {
      output += data.toString('utf8');
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(match[1]!);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${code ?? signal}) before it was ready; output:\n${output}`));
    };
    // Both pipes stay read for the child's whole life, so a full pipe never blocks it.
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
