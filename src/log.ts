import { pino, type Logger } from 'pino';

/**
 * Create the process logger: JSON lines on stdout for services and on stderr for the CLI
 * (whose stdout carries command output). Child loggers add tenant, scan, chunk, job
 * and request ids. Tokens, keys and query parameters are never passed to it. The
 * `redact` paths are a second net for an authorization header or token in a logged object.
 */
export function createLogger(level: string, options: { name?: string; fd?: 1 | 2 } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'strata',
      level,
      redact: { paths: ['req.headers.authorization', '*.authorization', 'token', '*.token'], censor: '[redacted]' },
    },
    pino.destination({ fd: options.fd ?? 1, sync: false }),
  );
}

export type { Logger };
