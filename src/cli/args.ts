import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how a command was called; the CLI prints it with the usage and exits with 2. */
export class UsageError extends Error {
  override name = 'UsageError';

  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

/** Thrown for `--help`: the CLI prints the usage and exits with 0. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';

  constructor(readonly usage: string) {
    super('help requested');
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parse a command's arguments strictly. `--help` and `-h` are added to every command;
 * an unknown option or a stray argument is a UsageError naming it.
 */
export function parseCommand<T extends Options>(argv: string[], options: T, usage: string) {
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    });
    if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(usage);
    return parsed.values;
  } catch (error) {
    if (error instanceof HelpRequested) throw error;
    throw new UsageError((error as Error).message, usage);
  }
}

/** Return a required string option or fail with a UsageError naming it. */
export function required(value: string | boolean | (string | boolean)[] | undefined, name: string, usage: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`, usage);
  return value;
}

/** Parse a positive integer option, or fail with a UsageError naming it. */
export function positiveInt(value: unknown, name: string, usage: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new UsageError(`--${name} must be a positive integer, got "${value}"`, usage);
  return number;
}
