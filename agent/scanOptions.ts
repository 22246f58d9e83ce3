/** Options of `runScan`, their defaults, and the checks that run before a scan is opened. */
import { opendir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';

import type { SourceType } from '../src/wire/contract.ts';
import type { ScanProgress } from './progress.ts';
import { DEFAULT_RETRY_POLICY, validateRetryPolicy, type RetryPolicy } from './retry.ts';

export const SOURCE_TYPES: readonly SourceType[] = ['NTFS', 'SMB', 'LucidLink', 'POSIX'];

export const DEFAULT_CHUNK_ROWS = 250_000;
export const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
export const DEFAULT_POLL_INTERVAL_MS = 2_000;

export interface RunScanOptions {
  /** Base URL of the Strata API, http or https. */
  serverUrl: string;
  /** Bearer token for the API. */
  token: string;
  shareName: string;
  /** Folder to scan; a relative path is resolved against the working directory. */
  rootPath: string;
  /** Default: NTFS on Windows, POSIX elsewhere. */
  sourceType?: SourceType;
  /** Folder that receives the scan's spool subfolder, named for the scanGuid. Default: `<os tmpdir>/strata-agent`. */
  spoolRoot?: string;
  /** Maximum rows per chunk. Default 250000. */
  chunkRows?: number;
  /** Chunk uploads running at the same time. Default 2. */
  concurrency?: number;
  /** Attempts and backoff delays per request. Default: 8 attempts, 0.5 s base, 30 s cap. */
  retry?: Partial<RetryPolicy>;
  /** Time allowed for one request attempt, in milliseconds. Default 120000. */
  requestTimeoutMs?: number;
  /** After completing, poll the scan until its status is OK or FAILED. */
  wait?: boolean;
  /** Interval between polls with `wait`, in milliseconds. Default 2000. */
  pollIntervalMs?: number;
  /** Default: a pino logger at level info that writes to stderr. */
  logger?: Logger;
  /** Called with a snapshot after every 1000 files, every chunk written or sent, and each phase change. */
  onProgress?: (progress: ScanProgress) => void;
  /** Cancels the scan; the server's scan then stays OPEN and the spool folder is kept. */
  signal?: AbortSignal;
}

/** The options with defaults filled in and every value checked. */
export interface ScanSettings {
  serverUrl: string;
  token: string;
  shareName: string;
  rootPath: string;
  sourceType: SourceType;
  spoolRoot: string;
  chunkRows: number;
  concurrency: number;
  retry: RetryPolicy;
  requestTimeoutMs: number;
  wait: boolean;
  pollIntervalMs: number;
  logger: Logger;
}

/** An option value that makes the scan impossible; nothing was sent to the server. */
export class ScanOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanOptionError';
  }
}

/** Fills in defaults and checks every option, including that the root can be listed. */
export async function resolveScanSettings(options: RunScanOptions): Promise<ScanSettings> {
  const settings: ScanSettings = {
    serverUrl: options.serverUrl,
    token: options.token.trim(),
    shareName: options.shareName.trim(),
    rootPath: path.resolve(options.rootPath),
    sourceType: options.sourceType ?? (process.platform === 'win32' ? 'NTFS' : 'POSIX'),
    spoolRoot: path.resolve(options.spoolRoot ?? path.join(os.tmpdir(), 'strata-agent')),
    chunkRows: options.chunkRows ?? DEFAULT_CHUNK_ROWS,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    retry: {
      maxAttempts: options.retry?.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
      baseDelayMs: options.retry?.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: options.retry?.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    },
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    wait: options.wait ?? false,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    logger: options.logger ?? pino({ name: 'strata-agent' }, pino.destination({ dest: 2, sync: true })),
  };

  checkServerUrl(settings.serverUrl);
  if (settings.token === '') {
    throw new ScanOptionError('Missing API token: the token is empty');
  }
  if (settings.shareName === '') {
    throw new ScanOptionError('Missing share name: the share name is empty');
  }
  if (!SOURCE_TYPES.includes(settings.sourceType)) {
    throw new ScanOptionError(`Invalid source type ${settings.sourceType}: expected one of ${SOURCE_TYPES.join(', ')}`);
  }
  checkWholeNumber('chunk rows', settings.chunkRows, 1);
  checkWholeNumber('concurrency', settings.concurrency, 1);
  checkWholeNumber('request timeout (ms)', settings.requestTimeoutMs, 1);
  checkWholeNumber('poll interval (ms)', settings.pollIntervalMs, 1);
  try {
    validateRetryPolicy(settings.retry);
  } catch (error) {
    throw new ScanOptionError((error as Error).message);
  }

  await checkRootListable(settings.rootPath);
  return settings;
}

function checkServerUrl(serverUrl: string): void {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new ScanOptionError(`Invalid server URL ${JSON.stringify(serverUrl)}: expected an absolute http or https URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ScanOptionError(`Invalid server URL ${serverUrl}: expected an http or https URL`);
  }
}

function checkWholeNumber(name: string, value: number, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new ScanOptionError(`Invalid ${name} ${value}: expected a whole number of at least ${minimum}`);
  }
}

/**
 * Lists the root once before the scan is opened. A root that cannot be read would
 * otherwise produce an empty scan, which the server would take for an empty share.
 */
async function checkRootListable(rootPath: string): Promise<void> {
  try {
    const dir = await opendir(rootPath);
    try {
      await dir.read();
    } finally {
      await dir.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ScanOptionError(`Cannot scan root ${rootPath}: ${code}. Pass an existing folder the agent may read.`);
  }
}
