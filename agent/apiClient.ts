/**
 * HTTP client for the scan, inventory and acting endpoints of the Strata API. Every call
 * is retried with backoff on network errors, timeouts and the statuses the contract
 * marks retryable.
 */
import { openAsBlob } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

import {
  CHUNK_IN_FLIGHT,
  RETRYABLE_STATUSES,
  type ChunkReceipt,
  type CompleteScanRequest,
  type ErrorBody,
  type OpenScanRequest,
  type ScanView,
} from '../src/wire/contract.ts';
import {
  INVENTORY_MEDIA_TYPE,
  type CompleteInventoryRequest,
  type InventoryStatus,
  type OpenInventoryRequest,
} from '../src/wire/inventory.ts';
import type {
  ActionResult,
  ActionResultBatchResponse,
  ClaimRequest,
  ClaimResponse,
  RenewLeasesRequest,
  RenewLeasesResponse,
} from '../src/wire/acting.ts';
import type { ChunkFile } from './chunkWriter.ts';
import { backoffDelayMs, parseRetryAfterMs, type RetryPolicy } from './retry.ts';

export interface ApiClientOptions {
  /** Base URL of the API; the `v1/...` paths are resolved against it. */
  serverUrl: string;
  /** Bearer token; it is sent in the Authorization header only and never logged. */
  token: string;
  retry: RetryPolicy;
  /** Time allowed for one attempt, response body included, in milliseconds. */
  requestTimeoutMs: number;
  logger: Logger;
}

/** The `error` object of an error response, when the server sent one. */
type ErrorDetails = ErrorBody['error'];

/** A request that failed for good: rejected by the server, or out of attempts. */
export class ApiRequestError extends Error {
  /** HTTP status of the last response; undefined when the last attempt got no response. */
  readonly status: number | undefined;
  /** The server's `error.code`, `error.line` and `error.column`, when it sent them. */
  readonly code: string | undefined;
  readonly line: number | undefined;
  readonly column: string | undefined;
  readonly attempts: number;

  constructor(message: string, status: number | undefined, details: ErrorDetails | undefined, attempts: number) {
    super(message);
    this.name = 'ApiRequestError';
    this.status = status;
    this.code = details?.code;
    this.line = details?.line;
    this.column = details?.column;
    this.attempts = attempts;
  }
}

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  /** Path relative to the base URL, without a leading slash. */
  path: string;
  /** Builds the body anew for each attempt, because a streamed body can be sent only once. */
  body?: () => Promise<{ data: Blob | string; headers: Record<string, string> }>;
  /** Description of the request for messages and logs, e.g. "upload of chunk 3". */
  action: string;
  logFields: Record<string, unknown>;
  signal: AbortSignal | undefined;
}

/** The parts of a response that the retry loop looks at; the body is read in full. */
interface ReceivedResponse {
  status: number;
  retryAfter: string | null;
  text: string;
}

export class ApiClient {
  readonly #baseUrl: URL;
  readonly #token: string;
  readonly #retry: RetryPolicy;
  readonly #requestTimeoutMs: number;
  readonly #logger: Logger;

  constructor(options: ApiClientOptions) {
    const baseUrl = new URL(options.serverUrl);
    if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
      throw new TypeError(`Invalid server URL ${options.serverUrl}: expected an http or https URL`);
    }

    // Without a trailing slash, URL resolution would drop the last path segment of a
    // server mounted below the root, such as https://host/strata.
    if (!baseUrl.pathname.endsWith('/')) {
      baseUrl.pathname += '/';
    }

    this.#baseUrl = baseUrl;
    this.#token = options.token;
    this.#retry = options.retry;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.#logger = options.logger;
  }

  /** Opens a scan; repeating the call with the same scanGuid returns the same scan. */
  async openScan(request: OpenScanRequest, signal?: AbortSignal): Promise<ScanView> {
    return this.#send<ScanView>({
      method: 'POST',
      path: 'v1/scans',
      body: jsonBody(request),
      action: `opening scan ${request.scanGuid}`,
      logFields: { scanGuid: request.scanGuid },
      signal,
    });
  }

  /** Uploads one chunk file, streaming it from disk. */
  async uploadChunk(scanGuid: string, chunk: ChunkFile, signal?: AbortSignal): Promise<ChunkReceipt> {
    return this.#send<ChunkReceipt>({
      method: 'PUT',
      path: `v1/scans/${encodeURIComponent(scanGuid)}/chunks/${chunk.seq}`,
      body: async () => ({
        // A file-backed Blob is read from disk while it is sent, and gives fetch the
        // Content-Length.
        data: await openAsBlob(chunk.path),
        headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' },
      }),
      action: `upload of chunk ${chunk.seq} (${chunk.path})`,
      logFields: { scanGuid, seq: chunk.seq },
      signal,
    });
  }

  /** Declares the scan complete, so the server can check the totals and finish it. */
  async completeScan(scanGuid: string, request: CompleteScanRequest, signal?: AbortSignal): Promise<ScanView> {
    return this.#send<ScanView>({
      method: 'POST',
      path: `v1/scans/${encodeURIComponent(scanGuid)}/complete`,
      body: jsonBody(request),
      action: `completing scan ${scanGuid}`,
      logFields: { scanGuid },
      signal,
    });
  }

  async getScan(scanGuid: string, signal?: AbortSignal): Promise<ScanView> {
    return this.#send<ScanView>({
      method: 'GET',
      path: `v1/scans/${encodeURIComponent(scanGuid)}`,
      action: `reading scan ${scanGuid}`,
      logFields: { scanGuid },
      signal,
    });
  }

  /** Opens an inventory of a share's Tier-2 root; repeating it with the same GUID returns the same run. */
  async openInventory(request: OpenInventoryRequest, signal?: AbortSignal): Promise<InventoryStatus> {
    return this.#send<InventoryStatus>({
      method: 'POST',
      path: 'v1/inventories',
      body: jsonBody(request),
      action: `opening inventory ${request.inventoryGuid}`,
      logFields: { inventoryGuid: request.inventoryGuid },
      signal,
    });
  }

  /** Uploads one inventory chunk: JSON lines held in memory, resent whole on a retry. */
  async uploadInventoryChunk(inventoryGuid: string, seq: number, lines: string, signal?: AbortSignal): Promise<unknown> {
    return this.#send<unknown>({
      method: 'PUT',
      path: `v1/inventories/${encodeURIComponent(inventoryGuid)}/chunks/${seq}`,
      body: async () => ({ data: lines, headers: { 'content-type': INVENTORY_MEDIA_TYPE } }),
      action: `upload of inventory chunk ${seq}`,
      logFields: { inventoryGuid, seq },
      signal,
    });
  }

  /** Declares an inventory complete with its totals. */
  async completeInventory(inventoryGuid: string, request: CompleteInventoryRequest, signal?: AbortSignal): Promise<InventoryStatus> {
    return this.#send<InventoryStatus>({
      method: 'POST',
      path: `v1/inventories/${encodeURIComponent(inventoryGuid)}/complete`,
      body: jsonBody(request),
      action: `completing inventory ${inventoryGuid}`,
      logFields: { inventoryGuid },
      signal,
    });
  }

  /** Claims up to `request.max` actions of one share, leased to this agent. */
  async claimActions(request: ClaimRequest, signal?: AbortSignal): Promise<ClaimResponse> {
    return this.#send<ClaimResponse>({
      method: 'POST',
      path: 'v1/actions/claim',
      body: jsonBody(request),
      action: `claiming ${request.kind} actions of share ${request.share}`,
      logFields: { share: request.share, kind: request.kind },
      signal,
    });
  }

  /**
   * Extends leases this agent still holds. Repeating a renewal is safe: it only moves the
   * end of a lease that is still this agent's.
   */
  async renewLeases(request: RenewLeasesRequest, signal?: AbortSignal): Promise<RenewLeasesResponse> {
    return this.#send<RenewLeasesResponse>({
      method: 'POST',
      path: 'v1/actions/renew',
      body: jsonBody(request),
      action: `renewing ${request.leases.length} leases`,
      logFields: { leases: request.leases.length },
      signal,
    });
  }

  /**
   * Reports the results of several actions at once. Repeating a batch is safe: the server
   * fences each result by its action's token.
   */
  async reportResults(results: ActionResult[], signal?: AbortSignal): Promise<ActionResultBatchResponse> {
    return this.#send<ActionResultBatchResponse>({
      method: 'POST',
      path: 'v1/actions/results',
      body: jsonBody({ results }),
      action: `reporting ${results.length} action results`,
      logFields: { results: results.length },
      signal,
    });
  }

  /** Reads the share's Tier-2 target with its credentials; the caller keeps it in memory only. */
  async getShareTarget(share: string, signal?: AbortSignal): Promise<unknown> {
    return this.#send<unknown>({
      method: 'GET',
      path: `v1/shares/${encodeURIComponent(share)}/target`,
      action: `reading the Tier-2 target of share ${share}`,
      logFields: { share },
      signal,
    });
  }

  /** Sends a request, retrying as the contract allows, and returns the parsed JSON response body. */
  async #send<T>(spec: RequestSpec): Promise<T> {
    const url = new URL(spec.path, this.#baseUrl);

    for (let attempt = 1; ; attempt++) {
      let failure: string;
      let delayMs: number;

      try {
        const response = await this.#exchange(url, spec);
        if (response.status >= 200 && response.status < 300) {
          return parseJsonBody<T>(response, spec.action, attempt);
        }

        const details = parseErrorDetails(response.text);
        const retryAfterMs = parseRetryAfterMs(response.retryAfter);
        const inFlight = response.status === 409 && details?.code === CHUNK_IN_FLIGHT;
        if (!inFlight && !RETRYABLE_STATUSES.has(response.status)) {
          throw new ApiRequestError(describeRejection(spec.action, response.status, details), response.status, details, attempt);
        }

        failure = `HTTP ${response.status}${details ? ` ${details.code}: ${details.message}` : ''}`;
        delayMs = retryAfterMs ?? backoffDelayMs(attempt, this.#retry);
      } catch (error) {
        if (error instanceof ApiRequestError || spec.signal?.aborted) {
          throw error;
        }
        failure = describeNetworkError(error, this.#requestTimeoutMs);
        delayMs = backoffDelayMs(attempt, this.#retry);
      }

      // NOTE: 409 CHUNK_IN_FLIGHT responses count as attempts too, so a server that keeps a
      // chunk in flight longer than the backoff schedule lasts fails the upload.
      if (attempt >= this.#retry.maxAttempts) {
        throw new ApiRequestError(
          `Failed ${spec.action} after ${attempt} attempts; the last one ended with ${failure}. ` +
            `Check that the server at ${this.#baseUrl.origin} is reachable and healthy, then run the scan again.`,
          undefined,
          undefined,
          attempt,
        );
      }

      this.#logger.warn(
        { ...spec.logFields, attempt, maxAttempts: this.#retry.maxAttempts, delayMs, failure },
        `Retrying ${spec.action}`,
      );
      await sleep(delayMs, undefined, { signal: spec.signal });
    }
  }

  /** Sends one attempt and reads the whole response, within the request timeout. */
  async #exchange(url: URL, spec: RequestSpec): Promise<ReceivedResponse> {
    const timeout = AbortSignal.timeout(this.#requestTimeoutMs);
    const signal = spec.signal === undefined ? timeout : AbortSignal.any([spec.signal, timeout]);

    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: 'application/json',
    };
    let data: Blob | string | undefined;
    if (spec.body !== undefined) {
      const body = await spec.body();
      data = body.data;
      Object.assign(headers, body.headers);
    }

    // Redirects are not followed, so that the token and the chunk go only to the
    // configured server. A 3xx response ends the request with its status.
    const response = await fetch(url, { method: spec.method, headers, body: data, signal, redirect: 'manual' });
    const text = await response.text();
    return { status: response.status, retryAfter: response.headers.get('retry-after'), text };
  }
}

function jsonBody(value: unknown): () => Promise<{ data: string; headers: Record<string, string> }> {
  const data = JSON.stringify(value);
  return async () => ({ data, headers: { 'content-type': 'application/json' } });
}

function parseJsonBody<T>(response: ReceivedResponse, action: string, attempts: number): T {
  try {
    return JSON.parse(response.text) as T;
  } catch {
    throw new ApiRequestError(
      `Invalid response to ${action}: HTTP ${response.status} with a body that is not JSON ` +
        `(${JSON.stringify(response.text.slice(0, 200))}). Check that --server points at the Strata API.`,
      response.status,
      undefined,
      attempts,
    );
  }
}

/** Returns the `error` object of an error response, or undefined when the body has none. */
function parseErrorDetails(text: string): ErrorDetails | undefined {
  try {
    const body = JSON.parse(text) as Partial<ErrorBody> | null;
    const error = body?.error;
    if (typeof error?.code === 'string' && typeof error.message === 'string') {
      return error;
    }
  } catch {
    // A proxy's HTML error page, for example; the status alone then describes the failure.
  }
  return undefined;
}

function describeRejection(action: string, status: number, details: ErrorDetails | undefined): string {
  let message = `Server rejected ${action}: HTTP ${status}`;
  if (details !== undefined) {
    message += ` ${details.code}: ${details.message}`;
    const position = [
      details.line === undefined ? undefined : `line ${details.line}`,
      details.column === undefined ? undefined : `column ${details.column}`,
      details.limit === undefined ? undefined : `limit ${details.limit}`,
    ].filter((part) => part !== undefined);
    if (position.length > 0) {
      message += ` (${position.join(', ')})`;
    }
  }

  if (status === 401 || status === 403) {
    message += '. Check that the token file contains a valid, unexpired token of this tenant with the scope the command needs (upload for scans, act for act and recall).';
  } else if (status >= 300 && status < 400) {
    message += '. The agent does not follow redirects; pass the final API URL as --server.';
  }
  return message;
}

function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return `timed out after ${timeoutMs} ms without a response`;
  }
  if (!(error instanceof Error)) {
    return String(error);
  }

  // fetch reports every network failure as "fetch failed" and puts the reason in `cause`.
  const cause = error.cause as NodeJS.ErrnoException | undefined;
  if (cause instanceof Error) {
    // An AggregateError from trying several addresses has an empty message but a code.
    return `${error.message}: ${cause.message || cause.code}`;
  }
  return error.message;
}
