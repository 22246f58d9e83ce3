/**
 * An in-process stand-in for the Strata scan API on 127.0.0.1. It records every request,
 * and tests can script its responses to chunk uploads and status reads.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { ChunkReceipt, ScanStatus, ScanView } from '../../../src/wire/contract.ts';
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

export interface MockStrataServer {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  url: string;
  requests: RecordedRequest[];
  /** Replies for uploads of a chunk seq, used in order before the default 200 receipt. */
  chunkReplies: Map<number, MockReply[]>;
  /** Statuses returned by GET, in order; the last one repeats. Default: OK. */
  getStatuses: ScanStatus[];
  /** Runs before a chunk upload gets its response, e.g. to inspect the agent's spool. */
  beforeChunkReply?: (seq: number) => Promise<void> | void;
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
      const seq = Number(chunk[2]);
      await mock.beforeChunkReply?.(seq);
      const scripted = mock.chunkReplies.get(seq)?.shift();
      if (scripted !== undefined) {
        send(scripted);
        return;
      }
      const rows = parseCsv(gunzipText(request.body)).length - 1;
      const receipt: ChunkReceipt = {
        seq,
        rows,
        sha256: createHash('sha256').update(request.body).digest('hex'),
        replayed: false,
      };
      send({ json: receipt });
      return;
    }

    const complete = COMPLETE_PATH.exec(request.path);
    if (request.method === 'POST' && complete !== null) {
      send({ json: scanView(decodeURIComponent(complete[1]!), 'COMPLETING') });
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
