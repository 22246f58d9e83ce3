/**
 * Sends action results in batches, so that a file costs a fraction of a request. A batch
 * goes out when it is full or when its oldest result has waited FLUSH_INTERVAL_MS.
 */
import type { Logger } from 'pino';

import type { ActionResult } from '../../src/wire/acting.ts';

/** Results per request. */
export const DEFAULT_RESULT_BATCH = 100;

/** Maximum time a result waits for its batch to fill, in milliseconds. */
const FLUSH_INTERVAL_MS = 1000;

export interface ResultSink {
  reportResults(results: ActionResult[], signal?: AbortSignal): Promise<{ results: { id: string; accepted: boolean; reason?: string }[] }>;
}

export class ResultReporter {
  readonly #sink: ResultSink;
  readonly #batchSize: number;
  readonly #logger: Logger;
  readonly #signal: AbortSignal | undefined;
  readonly #onSent: ((ids: string[]) => void) | undefined;
  #pending: ActionResult[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Sends in order, one at a time, so a failure is seen by the next add() or by close(). */
  #sending: Promise<void> = Promise.resolve();
  #failure: unknown;
  accepted = 0;
  rejected = 0;

  /** `onSent` receives the ids of each batch once its request ended, with a response or an error. */
  constructor(sink: ResultSink, options: { batchSize?: number; logger: Logger; signal?: AbortSignal; onSent?: (ids: string[]) => void }) {
    this.#sink = sink;
    this.#batchSize = options.batchSize ?? DEFAULT_RESULT_BATCH;
    this.#logger = options.logger;
    this.#signal = options.signal;
    this.#onSent = options.onSent;
  }

  /** Queues one result; waits while a full batch is sent, and rethrows a failed send. */
  async add(result: ActionResult): Promise<void> {
    this.#throwIfFailed();
    this.#pending.push(result);
    if (this.#pending.length >= this.#batchSize) {
      this.#flush();
      await this.#sending;
      this.#throwIfFailed();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#flush(), FLUSH_INTERVAL_MS);
    }
  }

  /** Sends what is queued and waits for every send; rethrows the first failure. */
  async close(): Promise<void> {
    this.#flush();
    await this.#sending;
    this.#throwIfFailed();
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) {
      return;
    }
    const batch = this.#pending;
    this.#pending = [];
    this.#sending = this.#sending.then(() => this.#send(batch));
  }

  async #send(batch: ActionResult[]): Promise<void> {
    if (this.#failure !== undefined) {
      return;
    }
    try {
      const response = await this.#sink.reportResults(batch, this.#signal);
      for (const item of response.results) {
        if (item.accepted) {
          this.accepted++;
        } else {
          // A rejected result is normal after a lease ran out and another agent took the
          // file over; that agent reports it again.
          this.rejected++;
          this.#logger.warn({ actionId: item.id, reason: item.reason }, 'Server rejected an action result');
        }
      }
    } catch (error) {
      this.#failure = error;
    } finally {
      this.#onSent?.(batch.map((result) => result.id));
    }
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) {
      throw this.#failure;
    }
  }
}
