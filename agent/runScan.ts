/**
 * One scan from start to end: open it on the server, walk the tree while chunks are
 * written and uploaded, complete it with the totals, and optionally wait for the result.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import packageJson from '../package.json' with { type: 'json' };
import type { ScanStatus, ScanView } from '../src/wire/contract.ts';
import { ApiClient } from './apiClient.ts';
import { ChunkWriter } from './chunkWriter.ts';
import type { ScanPhase, ScanProgress } from './progress.ts';
import { resolveScanSettings, type RunScanOptions, type ScanSettings } from './scanOptions.ts';
import { pathStyleOf } from './nativePath.ts';
import { newManifest, writeManifest, type SpoolManifest, type WalkTotals } from './spool.ts';
import { ChunkUploader } from './upload.ts';
import { TreeWalker, type StatMode } from './walk.ts';

/** Totals of a finished scan, as counted by the agent. */
export interface ScanSummary {
  scanGuid: string;
  files: number;
  /** Folders listed, the root included. */
  dirs: number;
  chunks: number;
  unreadable: number;
  /** Symbolic links and other entries that are neither files nor folders. */
  skipped: number;
  /** Entries whose names were not valid UTF-8 and were sent in the escaped form. */
  escaped: number;
  /** Total size of the files, in bytes. */
  bytes: number;
  /** Wall-clock time from opening the scan to the last response, in seconds. */
  seconds: number;
  /** Status after completing, or the final status (OK or FAILED) when `wait` was set. */
  status: ScanStatus;
  /** The server's last view of the scan. */
  scan: ScanView;
}

/** A scan that was opened on the server but could not be finished. */
export class ScanFailedError extends Error {
  readonly scanGuid: string;
  /** Folder that keeps the chunk files written so far; undefined once it was removed. */
  readonly spoolDir: string | undefined;

  constructor(scanGuid: string, spoolDir: string | undefined, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const spoolNote = spoolDir === undefined ? '' : ` The chunk files written so far are kept in ${spoolDir}.`;
    super(`Scan ${scanGuid} failed: ${reason}${spoolNote}`, { cause });
    this.name = 'ScanFailedError';
    this.scanGuid = scanGuid;
    this.spoolDir = spoolDir;
  }
}

/** Files scanned between two progress callbacks during the walk. */
const PROGRESS_EVERY_FILES = 1000;

/**
 * Scans `options.rootPath` and uploads it to the Strata API as one scan.
 * Throws ScanOptionError before contacting the server when an option is invalid,
 * ApiRequestError when opening the scan fails, and ScanFailedError when the scan fails
 * after it was opened. The contract has no call to abandon a scan, so a failed scan
 * stays OPEN on the server.
 */
export async function runScan(options: RunScanOptions): Promise<ScanSummary> {
  const settings = await resolveScanSettings(options);
  const logger = settings.logger;
  const signal = options.signal;

  const startedAtMs = Date.now();
  const scanGuid = randomUUID();
  const client = new ApiClient(settings);
  const walker = new TreeWalker(settings.rootPath, { logger, statMode: statModeFor(settings.sourceType) });
  let phase: ScanPhase = 'opening';
  let chunksWritten = 0;
  let chunksSent = 0;

  const report = (): void => {
    if (options.onProgress === undefined) {
      return;
    }
    const counters = walker.counters;
    options.onProgress({
      scanGuid,
      phase,
      files: counters.files,
      dirs: counters.dirs,
      unreadable: counters.unreadable,
      skipped: counters.skipped,
      bytes: Number(counters.bytes),
      chunksWritten,
      chunksSent,
      elapsedSeconds: (Date.now() - startedAtMs) / 1000,
    });
  };

  const enterPhase = (next: ScanPhase): void => {
    phase = next;
    report();
  };

  report();
  await client.openScan(
    {
      scanGuid,
      shareName: settings.shareName,
      sourceType: settings.sourceType,
      rootPath: walker.root,
      pathStyle: pathStyleOf(process.platform),
      startedAt: Math.floor(startedAtMs / 1000),
      agentHost: os.hostname(),
      agentVersion: packageJson.version,
    },
    signal,
  );
  logger.info({ scanGuid, share: settings.shareName, root: walker.root }, 'Opened scan');

  const spoolDir = path.join(settings.spoolRoot, scanGuid);
  let completed: ScanView;
  try {
    await mkdir(spoolDir, { recursive: true });

    // Written before the first chunk, so that `strata-agent resume` finds every spool
    // folder that may contain chunks, and can tell from the missing totals that the
    // walk did not finish.
    const manifest = newManifest({
      scanGuid,
      serverUrl: settings.serverUrl,
      shareName: settings.shareName,
      sourceType: settings.sourceType,
      rootPath: walker.root,
      localRootPath: settings.rootPath,
      pathStyle: pathStyleOf(process.platform),
      startedAt: Math.floor(startedAtMs / 1000),
      chunkRows: settings.chunkRows,
    });
    await writeManifest(spoolDir, manifest);

    enterPhase('walking');
    const totals = await walkAndUpload(settings, manifest, spoolDir, client, walker, {
      onChunkWritten: () => {
        chunksWritten++;
        report();
      },
      onChunkSent: () => {
        chunksSent++;
        report();
      },
      onFilesScanned: report,
      onWalkFinished: () => enterPhase('uploading'),
      signal,
    });

    enterPhase('completing');
    completed = await client.completeScan(
      scanGuid,
      { chunkCount: totals.chunkCount, rowCount: totals.rowCount, unreadableCount: totals.unreadableCount },
      signal,
    );
  } catch (error) {
    throw new ScanFailedError(scanGuid, spoolDir, error);
  }

  // The server has every chunk, so the spool copies are no longer needed.
  await rm(spoolDir, { recursive: true, force: true });
  logger.info({ scanGuid, status: completed.status, chunks: chunksWritten }, 'Completed scan');

  let final = completed;
  if (settings.wait) {
    try {
      enterPhase('waiting');
      final = await waitForResult(client, scanGuid, completed, settings.pollIntervalMs, report, signal);
    } catch (error) {
      throw new ScanFailedError(scanGuid, undefined, error);
    }
  }
  enterPhase('done');

  const counters = walker.counters;
  return {
    scanGuid,
    files: counters.files,
    dirs: counters.dirs,
    chunks: chunksWritten,
    unreadable: counters.unreadable,
    skipped: counters.skipped,
    escaped: counters.escaped,
    bytes: Number(counters.bytes),
    seconds: (Date.now() - startedAtMs) / 1000,
    status: final.status,
    scan: final,
  };
}

interface PipelineEvents {
  onChunkWritten: () => void;
  onChunkSent: () => void;
  /** Called after every PROGRESS_EVERY_FILES files. */
  onFilesScanned: () => void;
  /** Called when the last chunk is written and only uploads remain. */
  onWalkFinished: () => void;
  signal: AbortSignal | undefined;
}

/** Local disks are walked with synchronous calls; network shares with parallel lstat calls that hide their latency. */
export function statModeFor(sourceType: ScanSettings['sourceType']): StatMode {
  return sourceType === 'SMB' || sourceType === 'LucidLink' ? 'parallel' : 'sync';
}

/**
 * Streams the walk into chunk files and uploads each chunk as soon as it is written.
 * Records the walk's totals in the spool's scan.json once the last chunk is on disk,
 * and returns them once the server has accepted every chunk.
 */
async function walkAndUpload(
  settings: ScanSettings,
  manifest: SpoolManifest,
  spoolDir: string,
  client: ApiClient,
  walker: TreeWalker,
  events: PipelineEvents,
): Promise<WalkTotals> {
  const scanGuid = manifest.scanGuid;
  const chunkRows: number[] = [];
  const uploader = new ChunkUploader({
    client,
    scanGuid,
    concurrency: settings.concurrency,
    logger: settings.logger,
    signal: events.signal,
    onUploaded: events.onChunkSent,
  });
  const writer = new ChunkWriter({
    spoolDir,
    chunkRows: settings.chunkRows,
    onChunk: async (chunk) => {
      chunkRows[chunk.seq] = chunk.rows;
      events.onChunkWritten();
      await uploader.enqueue(chunk);
    },
  });

  let totals: WalkTotals;
  try {
    let nextProgressAt = PROGRESS_EVERY_FILES;
    for await (const batch of walker.walkBatches()) {
      for (const record of batch) {
        await writer.add(record);
      }
      if (walker.counters.files >= nextProgressAt) {
        nextProgressAt = walker.counters.files + PROGRESS_EVERY_FILES;
        events.signal?.throwIfAborted();
        events.onFilesScanned();
      }
    }
    await writer.close();

    const counters = walker.counters;
    totals = {
      chunkCount: writer.chunksWritten,
      rowCount: writer.rowsWritten,
      chunkRows,
      unreadableCount: counters.unreadable,
      files: counters.files,
      dirs: counters.dirs,
      skipped: counters.skipped,
      escaped: counters.escaped,
      bytes: Number(counters.bytes),
    };
    await writeManifest(spoolDir, { ...manifest, walk: totals });

    events.onWalkFinished();
    await uploader.drain();
  } catch (error) {
    uploader.abort(error);
    await writer.abort().catch((abortError: unknown) => {
      settings.logger.warn({ scanGuid, err: abortError }, 'Failed to remove the unfinished chunk file');
    });

    // Let the cancelled uploads settle, so nothing touches the spool after the error is reported.
    await uploader.drain().catch(() => undefined);
    throw error;
  }

  return totals;
}

/** Polls the scan until the server has finished it, one way or the other. */
export async function waitForResult(
  client: ApiClient,
  scanGuid: string,
  completed: ScanView,
  pollIntervalMs: number,
  onPoll: () => void,
  signal: AbortSignal | undefined,
): Promise<ScanView> {
  let view = completed;
  while (view.status !== 'OK' && view.status !== 'FAILED') {
    await sleep(pollIntervalMs, undefined, { signal });
    view = await client.getScan(scanGuid, signal);
    onPoll();
  }
  return view;
}
