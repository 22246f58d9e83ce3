/**
 * An in-process stand-in for the Strata scan API on 127.0.0.1. It records every request,
 * and tests can script its responses to chunk uploads and status reads. Like the real
 * server, it stores each chunk once per scan and seq: the same bytes again get a receipt
 * with `replayed: true`, other bytes a 409, and completing checks that every chunk
 * arrived.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { ChunkReceipt, CompleteScanRequest, ScanStatus, ScanView } from '../../../src/wire/contract.ts';
import { gunzipText, parseCsv } from './csv.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A scripted response; `dropConnection` closes the socket without responding. */
export interface MockReply {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  dropConnection?: boolean;
}

export interface StoredChunk {
  sha256: string;
  rows: string[][];
  /** Later uploads of the same bytes, replied to from the store. */
  replays: number;
}

export interface MockStrataServer {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  url: string;
  requests: RecordedRequest[];
  /** Replies for uploads of a chunk seq, used in order before the default 200 receipt. */
  chunkReplies: Map<number, MockReply[]>;
  /** Statuses returned by GET, in order; the last one repeats. Default: OK. */
  getStatuses: ScanStatus[];
  /**
   * Runs before a chunk upload is stored and replied to, e.g. to inspect the agent's spool
   * or to kill the agent while the upload is in flight.
   */
  beforeChunkReply?: (seq: number, scanGuid: string) => Promise<void> | void;
  /** Runs before a complete request is handled; a reply it returns is sent instead. */
  beforeCompleteReply?: (scanGuid: string) => Promise<MockReply | undefined> | MockReply | undefined;
  /** Chunks stored per scanGuid, by seq. */
  storedChunks: Map<string, Map<number, StoredChunk>>;
  /** Accepted complete requests per scanGuid. */
  completedScans: Map<string, CompleteScanRequest>;
  /** Data rows of every stored chunk of a scan, in seq order; the header is left out. */
  storedRows(scanGuid: string): string[][];
  chunkRequests(seq?: number): RecordedRequest[];
  requestsTo(method: string, pathPattern: RegExp): RecordedRequest[];
  close(): Promise<void>;
}

const CHUNK_PATH = /^\/v1\/scans\/([^/]+)\/chunks\/(\d+)$/;
const COMPLETE_PATH = /^\/v1\/scans\/([^/]+)\/complete$/;
const SCAN_PATH = /^\/v1\/scans\/([^/]+)$/;

export async function startMockStrataServer(): Promise<MockStrataServer> {
  const requests: RecordedRequest[] = [];
  let shareName = '';
  let getCount = 0;

  const mock: MockStrataServer = {
    url: '',
    requests,
    chunkReplies: new Map(),
    getStatuses: ['OK'],
    storedChunks: new Map(),
    completedScans: new Map(),
    storedRows: (scanGuid) =>
      [...(mock.storedChunks.get(scanGuid) ?? new Map<number, StoredChunk>()).entries()]
        .sort(([a], [b]) => a - b)
        .flatMap(([, chunk]) => chunk.rows),
    chunkRequests: (seq) =>
      requests.filter((request) => {
        const match = CHUNK_PATH.exec(request.path);
        return match !== null && (seq === undefined || Number(match[2]) === seq);
      }),
    requestsTo: (method, pathPattern) =>
      requests.filter((request) => request.method === method && pathPattern.test(request.path)),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const scanView = (scanGuid: string, status: ScanStatus): ScanView => ({
    scanGuid,
    shareName,
    status,
    chunksReceived: 0,
    chunksNormalized: 0,
    rowsReceived: 0,
    fileCount: null,
    dirCount: null,
    duplicateCount: null,
    unreadableCount: null,
    expectedChunks: null,
    expectedRows: null,
    error: status === 'FAILED' ? 'found no files where scan 7 found 3' : null,
  });

  const handle = async (request: RecordedRequest, response: ServerResponse): Promise<void> => {
    const send = (reply: MockReply): void => {
      if (reply.dropConnection === true) {
        response.socket?.destroy();
        return;
      }
      response.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
      response.end(reply.json === undefined ? '' : JSON.stringify(reply.json));
    };

    if (request.method === 'POST' && request.path === '/v1/scans') {
      const body = JSON.parse(request.body.toString('utf8')) as { scanGuid: string; shareName: string };
      shareName = body.shareName;
      send({ status: 201, json: scanView(body.scanGuid, 'OPEN') });
      return;
    }

    const chunk = CHUNK_PATH.exec(request.path);
    if (request.method === 'PUT' && chunk !== null) {
      const scanGuid = decodeURIComponent(chunk[1]!);
      const seq = Number(chunk[2]);
      await mock.beforeChunkReply?.(seq, scanGuid);
      const scripted = mock.chunkReplies.get(seq)?.shift();
      if (scripted !== undefined) {
        send(scripted);
        return;
      }

      const sha256 = createHash('sha256').update(request.body).digest('hex');
      const chunks = mock.storedChunks.get(scanGuid) ?? new Map<number, StoredChunk>();
      mock.storedChunks.set(scanGuid, chunks);
      const stored = chunks.get(seq);
      if (stored !== undefined && stored.sha256 !== sha256) {
        send({ status: 409, json: { error: { code: 'CHUNK_CONFLICT', message: `chunk ${seq} was received with other content` } } });
        return;
      }
      if (stored !== undefined) {
        stored.replays++;
      } else {
        const rows = parseCsv(gunzipText(request.body)).slice(1).map((row) => row.values);
        chunks.set(seq, { sha256, rows, replays: 0 });
      }

      const receipt: ChunkReceipt = { seq, rows: chunks.get(seq)!.rows.length, sha256, replayed: stored !== undefined };
      send({ json: receipt });
      return;
    }

    const complete = COMPLETE_PATH.exec(request.path);
    if (request.method === 'POST' && complete !== null) {
      const scanGuid = decodeURIComponent(complete[1]!);
      const override = await mock.beforeCompleteReply?.(scanGuid);
      if (override !== undefined) {
        send(override);
        return;
      }

      const body = JSON.parse(request.body.toString('utf8')) as CompleteScanRequest;
      const earlier = mock.completedScans.get(scanGuid);
      if (earlier !== undefined && JSON.stringify(earlier) !== JSON.stringify(body)) {
        send({ status: 409, json: { error: { code: 'SCAN_CLOSED', message: `scan ${scanGuid} was already completed with other counts` } } });
        return;
      }
      const stored = mock.storedChunks.get(scanGuid) ?? new Map<number, StoredChunk>();
      const missing = [...Array(body.chunkCount).keys()].filter((seq) => !stored.has(seq));
      if (missing.length > 0) {
        send({ status: 409, json: { error: { code: 'CHUNKS_MISSING', message: `chunk(s) ${missing.join(', ')} have not been received` } } });
        return;
      }
      mock.completedScans.set(scanGuid, body);
      send({ json: scanView(scanGuid, 'COMPLETING') });
      return;
    }

    const scan = SCAN_PATH.exec(request.path);
    if (request.method === 'GET' && scan !== null) {
      const statuses = mock.getStatuses;
      const status = statuses[Math.min(getCount, statuses.length - 1)]!;
      getCount++;
      send({ json: scanView(decodeURIComponent(scan[1]!), status) });
      return;
    }

    send({ status: 404, json: { error: { code: 'NOT_FOUND', message: `No route ${request.method} ${request.path}` } } });
  };

  const server = createServer((incoming, response) => {
    const parts: Buffer[] = [];
    incoming.on('data', (part: Buffer) => parts.push(part));
    incoming.on('end', () => {
      const request: RecordedRequest = {
        method: incoming.method ?? '',
        path: incoming.url ?? '',
        headers: incoming.headers,
        body: Buffer.concat(parts),
      };
      requests.push(request);
      handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { code: 'MOCK_FAILED', message: String(error) } }));
      });
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  mock.url = `http://127.0.0.1:${port}`;
  return mock;
}
