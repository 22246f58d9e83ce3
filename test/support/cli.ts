import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Stack } from './stack.ts';

const STRATA_BIN = fileURLToPath(new URL('../../src/cli/strata.mjs', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the `strata` command as a child process against a test stack's database and
 * keyring, as an operator would. `input` is written to its stdin, which is a pipe
 * (not a terminal) unless `terminal` is set: then the command runs under `script`,
 * which gives it a pseudo-terminal, and stdout and stderr arrive mixed in `stdout`.
 */
export function runStrata(stack: Stack, args: string[], options: { input?: string; terminal?: boolean; env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  const env = {
    ...process.env,
    DATABASE_URL: stack.db.url,
    STRATA_KEYRING_DIR: stack.keyringDir,
    STRATA_LOG_LEVEL: 'error',
    ...options.env,
  };
  const command = options.terminal
    ? ['script', ['-qec', [process.execPath, STRATA_BIN, ...args].map(shellQuote).join(' '), '/dev/null']]
    : [process.execPath, [STRATA_BIN, ...args]];

  return new Promise((resolve, reject) => {
    const child = spawn(command[0] as string, command[1] as string[], { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** True when util-linux `script` is installed, which the terminal cases need. */
export function hasScriptCommand(): boolean {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** Return the last line of the output that looks like a Strata token. */
export function tokenIn(output: string): string {
  const tokens = output.match(/^strata_[A-Za-z0-9_-]{43}$/gm);
  if (!tokens) throw new Error(`no token in output:\n${output}`);
  return tokens[tokens.length - 1]!;
}
