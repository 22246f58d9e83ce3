/**
 * Finishing a scan from its spool folder after the agent was killed or the machine
 * restarted: upload the chunks the server has not acknowledged, complete the scan with
 * the totals the walk recorded, and remove the spool folder.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pino, type Logger } from 'pino';

import type { ScanView } from '../src/wire/contract.ts';
import { ApiClient } from './apiClient.ts';
import { runScan, ScanFailedError, waitForResult, type ScanSummary } from './runScan.ts';
import { DEFAULT_CONCURRENCY, DEFAULT_POLL_INTERVAL_MS, DEFAULT_REQUEST_TIMEOUT_MS, type RunScanOptions } from './scanOptions.ts';
import { acknowledgedSeqs, chunkPath, MANIFEST_FILE, readManifest, SpoolError, type SpoolManifest } from './spool.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';
import { ChunkUploader } from './upload.ts';

export interface ResumeOptions {
  /** The scan's spool folder, `<spool root>/<scanGuid>`. */
  spoolDir: string;
  token: string;
  /** Default: the server recorded in the spool's scan.json. */
  serverUrl?: string;
  /**
   * When the walk had not finished, scan the recorded root again as a new scan instead
   * of failing. The old spool folder is removed first; the old scan stays OPEN on the server.
   */
  restartUnfinished?: boolean;
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  requestTimeoutMs?: number;
  wait?: boolean;
  pollIntervalMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

/** Outcome of resume for one spool folder. */
export interface ResumeResult {
  /** `resumed` completed the recorded scan; `restarted` ran a new scan because the walk had not finished. */
  outcome: 'resumed' | 'restarted';
  /** Chunks uploaded by this resume; the rest had `.ok` markers. */
  chunksSent: number;
  summary: ScanSummary;
}

/**
 * The walk of the recorded scan did not finish, so its totals are unknown. Completing it
 * would let the server take every file not yet walked for deleted.
 */
export class UnfinishedWalkError extends Error {
  readonly scanGuid: string;

  constructor(manifest: SpoolManifest, spoolDir: string) {
    super(
      `The walk of scan ${manifest.scanGuid} (${manifest.rootPath}) did not finish before the agent stopped, so the ` +
        'scan cannot be completed: files not yet walked would count as deleted. Run resume with --restart to scan ' +
        `the root again as a new scan, or remove ${spoolDir}. The old scan stays OPEN on the server.`,
    );
    this.name = 'UnfinishedWalkError';
    this.scanGuid = manifest.scanGuid;
  }
}

/** Returns the spool folders under `spoolRoot` that hold a scan.json, oldest scan first. */
export async function findSpoolDirs(spoolRoot: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(spoolRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw error;
  }

  const found: Array<{ dir: string; startedAt: number }> = [];
  for (const name of names.sort()) {
    const dir = path.join(spoolRoot, name);
    if (!existsSync(path.join(dir, MANIFEST_FILE))) {
      continue;
    }
    try {
      found.push({ dir, startedAt: (await readManifest(dir)).startedAt });
    } catch (error) {
      if (!(error instanceof SpoolError)) {
        throw error;
      }
      // Listed last, so that resumeScan reports the damaged scan.json for this folder
      // without stopping the others.
      found.push({ dir, startedAt: Number.POSITIVE_INFINITY });
    }
  }
  return found.sort((a, b) => a.startedAt - b.startedAt).map((entry) => entry.dir);
}

/**
 * Finishes the scan recorded in `options.spoolDir`. Throws UnfinishedWalkError when the
 * walk had not finished and restartUnfinished is not set. Throws SpoolError when the
 * spool lacks a chunk the server has not acknowledged, and ScanFailedError when an
 * upload or the completion fails. The spool folder is then kept for another resume.
 */
export async function resumeScan(options: ResumeOptions): Promise<ResumeResult> {
  const logger = options.logger ?? pino({ name: 'strata-agent' }, pino.destination({ dest: 2, sync: true }));
  const spoolDir = path.resolve(options.spoolDir);
  const manifest = await readManifest(spoolDir);
  const walk = manifest.walk;

  if (walk === undefined) {
    if (options.restartUnfinished !== true) {
      throw new UnfinishedWalkError(manifest, spoolDir);
    }
    return restartScan(manifest, spoolDir, options, logger);
  }

  const startedAtMs = Date.now();
  const acknowledged = await acknowledgedSeqs(spoolDir);
  const pending: number[] = [];
  for (let seq = 0; seq < walk.chunkCount; seq++) {
    if (acknowledged.has(seq)) {
      continue;
    }
    if (!existsSync(chunkPath(spoolDir, seq))) {
      throw new SpoolError(
        `Chunk ${seq} of scan ${manifest.scanGuid} has neither a chunk file nor an .ok marker in ${spoolDir}, ` +
          'so the scan cannot be completed. Remove the folder and scan again.',
      );
    }
    pending.push(seq);
  }
  logger.info(
    { scanGuid: manifest.scanGuid, chunks: walk.chunkCount, acknowledged: acknowledged.size, pending: pending.length },
    'Resuming scan',
  );

  const client = new ApiClient({
    serverUrl: options.serverUrl ?? manifest.serverUrl,
    token: options.token,
    retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    logger,
  });

  let completed: ScanView;
  try {
    const uploader = new ChunkUploader({
      client,
      scanGuid: manifest.scanGuid,
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      logger,
      signal: options.signal,
    });
    for (const seq of pending) {
      await uploader.enqueue({ seq, path: chunkPath(spoolDir, seq), rows: walk.chunkRows[seq] ?? 0 });
    }
    await uploader.drain();

    completed = await client.completeScan(
      manifest.scanGuid,
      { chunkCount: walk.chunkCount, rowCount: walk.rowCount, unreadableCount: walk.unreadableCount },
      options.signal,
    );
  } catch (error) {
    throw new ScanFailedError(manifest.scanGuid, spoolDir, error);
  }

  await rm(spoolDir, { recursive: true, force: true });
  logger.info({ scanGuid: manifest.scanGuid, status: completed.status, resent: pending.length }, 'Completed resumed scan');

  let final = completed;
  if (options.wait === true) {
    try {
      final = await waitForResult(
        client,
        manifest.scanGuid,
        completed,
        options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
        () => undefined,
        options.signal,
      );
    } catch (error) {
      throw new ScanFailedError(manifest.scanGuid, undefined, error);
    }
  }

  return {
    outcome: 'resumed',
    chunksSent: pending.length,
    summary: {
      scanGuid: manifest.scanGuid,
      files: walk.files,
      dirs: walk.dirs,
      chunks: walk.chunkCount,
      unreadable: walk.unreadableCount,
      skipped: walk.skipped,
      escaped: walk.escaped,
      bytes: walk.bytes,
      seconds: (Date.now() - startedAtMs) / 1000,
      status: final.status,
      scan: final,
    },
  };
}

/** Scans the recorded root again as a new scan with the recorded settings. */
async function restartScan(
  manifest: SpoolManifest,
  spoolDir: string,
  options: ResumeOptions,
  logger: Logger,
): Promise<ResumeResult> {
  // The old chunks cannot be used: a new scan numbers its chunks from 0 under a new scanGuid.
  await rm(spoolDir, { recursive: true, force: true });
  logger.warn(
    { scanGuid: manifest.scanGuid, root: manifest.localRootPath },
    'The walk had not finished; removed its spool folder and scanning the root again as a new scan',
  );

  const scanOptions: RunScanOptions = {
    serverUrl: options.serverUrl ?? manifest.serverUrl,
    token: options.token,
    shareName: manifest.shareName,
    rootPath: manifest.localRootPath,
    sourceType: manifest.sourceType,
    spoolRoot: path.dirname(spoolDir),
    chunkRows: manifest.chunkRows,
    concurrency: options.concurrency,
    retry: options.retry,
    requestTimeoutMs: options.requestTimeoutMs,
    wait: options.wait,
    pollIntervalMs: options.pollIntervalMs,
    logger,
    signal: options.signal,
  };
  const summary = await runScan(scanOptions);
  return { outcome: 'restarted', chunksSent: summary.chunks, summary };
}
