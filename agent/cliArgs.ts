/** Command-line helpers shared by the strata-agent commands. */
import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A command-line mistake; main() prints it with a pointer to the help and exits 2. */
export class UsageError extends Error {}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Parses `args` strictly against `options`, turning Node's parse errors into UsageError. */
export function parseCommandArgs<T extends OptionsConfig>(args: string[], options: T): ReturnType<typeof parseArgs<{ options: T }>>['values'] {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as ReturnType<typeof parseArgs<{ options: T }>>['values'];
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = (error as Error).message;

    // Node's own text for an unknown option goes on about positional arguments, which
    // these commands do not take.
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== null) {
      throw new UsageError(`Unknown option ${unknown[1]}.`);
    }
    if (code?.startsWith('ERR_PARSE_ARGS_') === true) {
      throw new UsageError(message);
    }
    throw error;
  }
}

export function parseWholeNumber(option: string, value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`Invalid ${option} ${JSON.stringify(value)}: expected a whole number of at least 1.`);
  }
  return Number(value);
}

export function parseLogLevel(value: string | undefined): string {
  const logLevel = value ?? 'warn';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UsageError(`Invalid --log-level ${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}.`);
  }
  return logLevel;
}

/** Reads the bearer token; messages name the file but never show its content. */
export async function readToken(tokenFile: string): Promise<string> {
  let content: string;
  try {
    content = await readFile(tokenFile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`Cannot read token file ${tokenFile}: ${code}. Pass a file that contains the API bearer token.`);
  }

  const token = content.trim();
  if (token === '') {
    throw new UsageError(`Token file ${tokenFile} is empty. Write the API bearer token into it.`);
  }
  return token;
}

