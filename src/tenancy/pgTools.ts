import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ConfigError } from '../config.ts';
import { StrataError } from '../errors.ts';

export type PgTool = 'pg_dump' | 'pg_restore';

const OVERRIDE: Record<PgTool, string> = { pg_dump: 'STRATA_PG_DUMP', pg_restore: 'STRATA_PG_RESTORE' };

/**
 * Find pg_dump or pg_restore: the configured path when given (STRATA_PG_DUMP,
 * STRATA_PG_RESTORE), else the first on PATH, else the newest under
 * /usr/lib/postgresql/<major>/bin (where Debian and Ubuntu install them).
 */
export function findPgTool(tool: PgTool, configured: string | undefined): string {
  if (configured) {
    if (!isExecutable(configured)) throw new ConfigError(`${OVERRIDE[tool]} is "${configured}", which is not an executable file`);
    return configured;
  }

  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, tool);
    if (isExecutable(candidate)) return candidate;
  }

  const debianRoot = '/usr/lib/postgresql';
  const majors = safeReaddir(debianRoot).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const candidate = path.join(debianRoot, major, 'bin', tool);
    if (isExecutable(candidate)) return candidate;
  }
  throw new ConfigError(`${tool} was not found on PATH or under ${debianRoot}; install the PostgreSQL client tools or set ${OVERRIDE[tool]}`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    // Missing or not executable: the caller tries the next candidate.
    return false;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // No such folder on this system: nothing to choose from there.
    return [];
  }
}

/**
 * Connection arguments for a libpq tool. The password goes into the child's
 * environment (PGPASSWORD), never onto its command line, where `ps` would show it.
 */
export function libpqConnection(databaseUrl: string): { args: string[]; env: Record<string, string> } {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  return { args: ['--dbname', url.toString()], env: password ? { PGPASSWORD: password } : {} };
}

/** A running client tool: its stdout, and a promise of its exit that rejects with its stderr. */
export interface RunningPgTool {
  stdout: Readable;
  exited: Promise<void>;
  kill(): void;
}

/** Start a PostgreSQL client tool whose stdout the caller reads. */
export function startPgTool(file: string, args: string[], options: { env?: Record<string, string>; stdin?: Readable } = {}): RunningPgTool {
  const child = spawn(file, args, {
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (options.stdin) {
    // pg_restore may exit before reading all of stdin (on an error); that is reported by its exit status.
    child.stdin!.on('error', () => undefined);
    options.stdin.pipe(child.stdin!);
  }
  return { stdout: child.stdout!, exited: exitOf(file, child), kill: () => child.kill() };
}

/** Run a tool and return what it printed on stdout, e.g. `pg_dump --version`. */
export async function pgToolOutput(file: string, args: string[]): Promise<string> {
  const tool = startPgTool(file, args);
  let output = '';
  tool.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  await tool.exited;
  return output.trim();
}

/** Run a PostgreSQL client tool to completion, discarding its stdout. */
export async function runPgTool(file: string, args: string[], options: { env?: Record<string, string> } = {}): Promise<void> {
  const tool = startPgTool(file, args, options);
  tool.stdout.resume();
  await tool.exited;
}

/** Resolve when the tool exits with status 0; otherwise reject with the end of its stderr. */
function exitOf(file: string, child: ChildProcess): Promise<void> {
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4000)));

  return new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new StrataError('PG_TOOL_FAILED', `${path.basename(file)} could not be started: ${error.message}`, 500)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was stopped by ${signal}` : `exited with status ${code}`;
      reject(new StrataError('PG_TOOL_FAILED', `${path.basename(file)} ${how}: ${stderr.trim() || '(no message)'}`, 500));
    });
  });
}
