/**
 * Uploads chunk files while the walk goes on, a few at a time. When uploads fall behind,
 * the walk pauses, so the spool folder cannot grow without bound.
 */
import type { Logger } from 'pino';

import type { ChunkReceipt } from '../src/wire/contract.ts';
import type { ApiClient } from './apiClient.ts';
import type { ChunkFile } from './chunkWriter.ts';
import { markChunkAcknowledged } from './spool.ts';

export interface ChunkUploaderOptions {
  client: ApiClient;
  scanGuid: string;
  /** Uploads running at the same time. */
  concurrency: number;
  logger: Logger;
  /** Cancels queued and running uploads, as abort() does. */
  signal?: AbortSignal;
  /** Called after the server has accepted a chunk and its `.ok` marker replaced the chunk file. */
  onUploaded?: (chunk: ChunkFile, receipt: ChunkReceipt) => void;
}

/**
 * Finished chunk files allowed on disk beyond the uploads running, counting the one whose
 * enqueue() call is waiting for room.
 */
const EXTRA_WAITING_CHUNKS = 2;

export class ChunkUploader {
  readonly #options: ChunkUploaderOptions;
  readonly #maxWaiting: number;
  readonly #abortController = new AbortController();
  #queue: ChunkFile[] = [];
  #active = 0;
  #uploaded = 0;
  #failure: unknown;
  #failed = false;
  #waiters: Array<() => void> = [];

  constructor(options: ChunkUploaderOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`Invalid concurrency ${options.concurrency}: expected a whole number of at least 1`);
    }
    this.#options = options;
    this.#maxWaiting = options.concurrency + EXTRA_WAITING_CHUNKS;

    const signal = options.signal;
    if (signal?.aborted) {
      this.#fail(signal.reason);
    }
    signal?.addEventListener('abort', () => this.#fail(signal.reason), { once: true });
  }

  /** Chunks the server has accepted. */
  get chunksUploaded(): number {
    return this.#uploaded;
  }

  /**
   * Queues a finished chunk, first waiting until at most concurrency + 2 chunk files,
   * this one included, are on disk waiting or uploading. Throws the first upload error
   * once an upload has failed for good.
   */
  async enqueue(chunk: ChunkFile): Promise<void> {
    // This chunk's file is already on disk while it waits here, so it counts too: the
    // uploads and the queue may hold one fewer than the limit.
    while (!this.#failed && this.#active + this.#queue.length + 1 >= this.#maxWaiting) {
      await this.#nextChange();
    }
    if (this.#failed) {
      throw this.#failure;
    }

    this.#queue.push(chunk);
    this.#startUploads();
  }

  /** Waits until every queued chunk is uploaded; throws the first upload error. */
  async drain(): Promise<void> {
    while (this.#active > 0 || (!this.#failed && this.#queue.length > 0)) {
      await this.#nextChange();
    }
    if (this.#failed) {
      throw this.#failure;
    }
  }

  /** Drops queued chunks and cancels running uploads, because the scan failed elsewhere. */
  abort(reason: unknown): void {
    this.#fail(reason);
  }

  #startUploads(): void {
    while (!this.#failed && this.#active < this.#options.concurrency && this.#queue.length > 0) {
      const chunk = this.#queue.shift()!;
      this.#active++;

      this.#uploadOne(chunk)
        .catch((error: unknown) => this.#fail(error))
        .finally(() => {
          this.#active--;
          this.#startUploads();
          this.#notifyWaiters();
        });
    }
  }

  async #uploadOne(chunk: ChunkFile): Promise<void> {
    const { client, scanGuid, logger } = this.#options;
    const receipt = await client.uploadChunk(scanGuid, chunk, this.#abortController.signal);

    if (receipt.rows !== chunk.rows) {
      // The scan goes on: the server stores its own count, and completing the scan sends
      // the agent's row total, so the server can detect the difference there.
      logger.warn(
        { scanGuid, seq: chunk.seq, sentRows: chunk.rows, receivedRows: receipt.rows },
        'Server counted a different number of rows in a chunk than the agent wrote',
      );
    }

    // The marker tells `strata-agent resume` that this chunk needs no resend.
    await markChunkAcknowledged(chunk.path, receipt);
    this.#uploaded++;
    logger.debug({ scanGuid, seq: chunk.seq, rows: chunk.rows, replayed: receipt.replayed }, 'Uploaded chunk');
    this.#options.onUploaded?.(chunk, receipt);
  }

  /** Records the first failure and stops all other uploads; later failures are echoes of it. */
  #fail(error: unknown): void {
    if (this.#failed) {
      return;
    }
    this.#failed = true;
    this.#failure = error;
    this.#queue = [];
    this.#abortController.abort(error);
    this.#notifyWaiters();
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #notifyWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) {
      resolve();
    }
  }
}
