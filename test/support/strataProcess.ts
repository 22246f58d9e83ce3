import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STRATA_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/strata.mjs');

/** How long a `strata` process may take to start (tsx compiles the sources first) or to finish. */
const PROCESS_TIMEOUT_MS = 90_000;

export interface StrataResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningStrata {
  /** Stop the process by its PID with SIGTERM and return everything it printed. */
  stop(): Promise<string>;
}

/**
 * Environment of a child `strata`: this process's, plus `env`, minus the settings a
 * developer may have exported that would change the outcome of a test.
 */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  delete base.STRATA_ALLOW_SUPERUSER;
  delete base.DATABASE_URL;
  return { ...base, STRATA_LOG_LEVEL: 'info', ...env };
}

function spawnStrata(args: string[], env: Record<string, string>): { child: ChildProcess; output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [STRATA_CLI, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
  return { child, output };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Run `strata ARGS` to the end; a process still running after the timeout is killed by PID. */
export async function runStrata(args: string[], env: Record<string, string>): Promise<StrataResult> {
  const { child, output } = spawnStrata(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_TIMEOUT_MS);
  const code = await exited(child);
  clearTimeout(timer);
  return { code, ...output };
}

/** Start a long-running `strata ARGS` and wait until its output contains `ready`. */
export async function startStrata(args: string[], ready: string, env: Record<string, string>): Promise<RunningStrata> {
  const { child, output } = spawnStrata(args, env);
  const deadline = Date.now() + PROCESS_TIMEOUT_MS;

  while (!output.stdout.includes(ready)) {
    if (child.exitCode !== null) throw new Error(`strata ${args.join(' ')} exited with ${child.exitCode}:\n${output.stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`strata ${args.join(' ')} did not print "${ready}" within ${PROCESS_TIMEOUT_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    stop: async () => {
      child.kill('SIGTERM');
      await exited(child);
      return output.stdout + output.stderr;
    },
  };
}
