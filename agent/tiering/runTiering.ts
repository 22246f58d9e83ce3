/**
 * One run of `strata-agent act` or `strata-agent recall`: read the share's Tier-2
 * target, open its store, and work through the claimed actions.
 */
import type { Logger } from 'pino';

import type { ActionKind } from '../../src/wire/acting.ts';
import { FolderSyncer } from '../../src/tier2/folderSyncer.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import { ApiClient } from '../apiClient.ts';
import { syncFolder } from '../durableFile.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../retry.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../scanOptions.ts';
import { createOfflineMarker, NO_OFFLINE_MARKER, type OfflineMarker } from './offlineMarker.ts';
import { OfflineMarking } from './offlineMarking.ts';
import { recallFile } from './recallFile.ts';
import { runActions, type ActionProgress } from './runActions.ts';
import { openTargetStore } from './targetStore.ts';
import { tierFile } from './tierFile.ts';

/**
 * Files worked on at once by default. Each file waits mostly on disk and Tier-2 I/O, so
 * several in flight keep a file server's disks and the network busy without flooding
 * either. On the benchmark machine (docs/benchmarks.md) 16 beat both 8 and 32.
 */
export const DEFAULT_FILE_CONCURRENCY = 16;

/** Actions asked for per claim by default: enough that claims cost little per file. */
export const DEFAULT_CLAIM_BATCH = 64;

export interface TieringOptions {
  serverUrl: string;
  /** Bearer token with the `act` scope; never logged. */
  token: string;
  share: string;
  kind: ActionKind;
  /** Recall only: glob over the full source path, `*` within a segment and `**` across. */
  pattern?: string;
  concurrency?: number;
  claimBatch?: number;
  leaseSeconds?: number;
  /** Stop after this many claimed actions. */
  maxActions?: number;
  retry?: Partial<RetryPolicy>;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (progress: ActionProgress) => void;
  /** Opens the store of the share's target; tests pass their own. */
  openStore?: (target: unknown) => Tier2Store;
  /** Marker that sets the offline attribute of stubs: the PowerShell helper on Windows for act by default, else none. Tests pass their own. */
  offlineMarker?: OfflineMarker;
}

/**
 * Key looked up to check that the target is reachable. No object has it: an object's key is
 * its share's name, `/`, and a path (src/acting/tier2Key.ts), so it has two segments at least.
 */
const PROBE_KEY = 'strata-probe';

/**
 * Looks up one key and lists one page before anything is claimed. An unreachable
 * endpoint, a missing bucket or container, or refused credentials then end the run with
 * one clear error. Otherwise every claimed file would fail, and the failures could pause
 * the share. A head alone misses a missing bucket or container, because a HEAD there gets
 * the same bodiless 404 as a missing key (seen on s3rver and Azurite). A listing gets an
 * error naming the bucket or container. An empty target, or a filesystem root not made
 * yet, passes. NOTE: the listing needs list access: s3:ListBucket, which AWS also requires
 * before it returns 404 for a HEAD of a missing key, or an Azure SAS with `l`.
 */
async function probeTarget(store: Tier2Store, share: string): Promise<void> {
  try {
    await store.head(PROBE_KEY);
    await store.list(PROBE_KEY, null, 1);
  } catch (error) {
    throw new Error(
      `the Tier-2 target of share ${share} (${store.kind}) is unusable: ${(error as Error).message ?? String(error)}; ` +
        'no file was claimed. Check the target with `strata target list` and the agent\'s access to it',
      { cause: error },
    );
  }
}

/** Runs act or recall until the server has no more actions of the kind for the share. */
export async function runTiering(options: TieringOptions): Promise<ActionProgress> {
  const logger = options.logger.child({ share: options.share, kind: options.kind });
  const client = new ApiClient({
    serverUrl: options.serverUrl,
    token: options.token,
    retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    logger,
  });

  // The target carries credentials: it stays in memory and is never logged.
  const target = await client.getShareTarget(options.share, options.signal);
  const store = (options.openStore ?? openTargetStore)(target);
  await probeTarget(store, options.share);
  logger.info({ targetKind: store.kind }, 'Opened the share\'s Tier-2 target');

  // Recall needs no marker, because it renames a new file over the stub, and the new
  // file has attributes of its own (recallFile.ts).
  const marker = options.offlineMarker ?? (options.kind === 'tier' ? createOfflineMarker() : NO_OFFLINE_MARKER);
  const offline = new OfflineMarking(marker, logger);
  const context = { store, logger, folders: new FolderSyncer(syncFolder), offline };
  const handle = options.kind === 'tier' ? tierFile : recallFile;
  let progress: ActionProgress;
  try {
    progress = await runActions({
      source: client,
      share: options.share,
      kind: options.kind,
      pattern: options.pattern,
      concurrency: options.concurrency ?? DEFAULT_FILE_CONCURRENCY,
      claimBatch: options.claimBatch ?? DEFAULT_CLAIM_BATCH,
      leaseSeconds: options.leaseSeconds,
      maxActions: options.maxActions,
      handle: (action, lease) => handle(action, context, lease),
      countUnmarked: () => offline.unmarked,
      logger,
      signal: options.signal,
      onProgress: options.onProgress,
    });
  } finally {
    await marker.close();
  }
  logger.info({ ...progress.outcomes, rejected: progress.rejected, unmarked: progress.unmarked }, 'Finished');
  return progress;
}
