/**
 * Flushes folders after renames, with one fsync for all the renames whose flush is
 * requested while the previous flush of that folder runs (group commit). Files of one folder tiered at
 * the same time then share a flush instead of each paying for one.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

interface FolderFlushes {
  /** The flush running now; a rename made while it runs may not be covered by it. */
  running: Promise<void> | undefined;
  /** The flush that starts after `running`, shared by every caller until it starts. */
  queued: Promise<void> | undefined;
}

export class FolderSyncer {
  readonly #folders = new Map<string, FolderFlushes>();
  readonly #sync: (folder: string | Buffer) => Promise<void>;

  /** `sync` flushes one folder: the agent's for source folders, the store's for its own, a counting one in tests. */
  constructor(sync: (folder: string | Buffer) => Promise<void>) {
    this.#sync = sync;
  }

  /** Resolves once a flush of `folder` that started after this call has finished. */
  async sync(folder: string | Buffer): Promise<void> {
    const key = typeof folder === 'string' ? `s${folder}` : `b${folder.toString('hex')}`;
    let flushes = this.#folders.get(key);
    if (flushes === undefined) {
      flushes = { running: undefined, queued: undefined };
      this.#folders.set(key, flushes);
    }
    flushes.queued ??= this.#flushAfterRunning(key, folder, flushes);
    return flushes.queued;
  }

  async #flushAfterRunning(key: string, folder: string | Buffer, flushes: FolderFlushes): Promise<void> {
    // One turn of the event loop lets other renames in the folder join this flush.
    await nextTurn();

    // Only the order matters here: the running flush's own callers see its error.
    await flushes.running?.catch(() => undefined);

    flushes.queued = undefined;
    const flush = this.#sync(folder);
    flushes.running = flush;
    try {
      await flush;
    } finally {
      if (flushes.running === flush) {
        flushes.running = undefined;
      }
      if (flushes.running === undefined && flushes.queued === undefined) {
        this.#folders.delete(key);
      }
    }
  }
}
