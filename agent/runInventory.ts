/**
 * `strata-agent inventory`: list a filesystem or SMB Tier-2 root with the same store
 * the agent copies files into, and upload the listing to Strata in chunks.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

import { tier2SharePrefix } from '../src/acting/tier2Key.ts';
import { FsStore } from '../src/tier2/fsStore.ts';
import type { Tier2Store } from '../src/tier2/tier2Store.ts';
import type { InventoryLine, InventoryStatus } from '../src/wire/inventory.ts';
import { ApiClient } from './apiClient.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.ts';

/** Objects per uploaded chunk unless the caller says otherwise; one listing page each, and stores list at most 1,000 per page. */
export const DEFAULT_INVENTORY_CHUNK_OBJECTS = 1000;

export interface RunInventoryOptions {
  serverUrl: string;
  token: string;
  share: string;
  /** The Tier-2 root folder, as the share's target names it on this host. */
  root: string;
  chunkObjects?: number;
  retry?: RetryPolicy;
  logger: Logger;
  signal?: AbortSignal;
  /** The store to list; a filesystem store on `root` when absent. */
  store?: Tier2Store;
}

/**
 * List the share's objects under the root (the keys starting with the share's key
 * prefix) page by page, uploading each page as one chunk, then complete the
 * inventory with the totals. Uploads are idempotent per chunk, so a retried request
 * stores nothing twice. An agent killed midway leaves a RUNNING inventory that
 * reconciliation ignores; running the command again makes a new, complete one.
 */
export async function runInventory(options: RunInventoryOptions): Promise<InventoryStatus> {
  const client = new ApiClient({
    serverUrl: options.serverUrl,
    token: options.token,
    retry: options.retry ?? DEFAULT_RETRY_POLICY,
    requestTimeoutMs: 120_000,
    logger: options.logger,
  });
  const store = options.store ?? new FsStore(options.root);
  const inventoryGuid = randomUUID();
  await client.openInventory({ inventoryGuid, share: options.share }, options.signal);

  let seq = 0;
  let objectCount = 0;
  let token: string | null = null;
  do {
    const page = await store.list(tier2SharePrefix(options.share), token, options.chunkObjects ?? DEFAULT_INVENTORY_CHUNK_OBJECTS);
    if (page.objects.length > 0) {
      const lines = page.objects.map((object) => `${JSON.stringify(toLine(object))}\n`).join('');
      await client.uploadInventoryChunk(inventoryGuid, seq, lines, options.signal);
      seq++;
      objectCount += page.objects.length;
    }
    token = page.nextToken;
    options.logger.debug({ inventoryGuid, chunks: seq, objects: objectCount }, 'inventory page uploaded');
  } while (token !== null);

  return client.completeInventory(inventoryGuid, { chunkCount: seq, objectCount }, options.signal);
}

function toLine(object: { key: string; sizeBytes: number; sha256?: string; lastModified?: Date }): InventoryLine {
  const line: InventoryLine = { key: object.key, size: object.sizeBytes };
  if (object.sha256 !== undefined) line.sha256 = object.sha256;
  if (object.lastModified !== undefined) line.mtime = Math.floor(object.lastModified.getTime() / 1000);
  return line;
}
