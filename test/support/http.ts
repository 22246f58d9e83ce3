import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import type { OpenScanRequest, ScanView } from '../../src/wire/contract.ts';

export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
}

/** Send one request to the API under test and parse its JSON response. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; body?: RequestInit['body']; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;

  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }

  const response = await fetch(baseUrl + path, { method, headers, body, duplex: 'half' } as RequestInit);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (e.g. /metrics): keep the text.
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export function scanRequest(overrides: Partial<OpenScanRequest> = {}): OpenScanRequest {
  return {
    scanGuid: randomUUID(),
    shareName: 'finance',
    sourceType: 'NTFS',
    rootPath: 'D:\\Shares\\Finance',
    pathStyle: 'windows',
    startedAt: Math.floor(Date.now() / 1000),
    ...overrides,
  };
}

export const HEADER = 'dir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix\n';

/** Upload a chunk (gzip by default) and return the raw result. */
export function putChunk(
  baseUrl: string,
  token: string,
  scanGuid: string,
  seq: number,
  csv: string | Buffer,
  options: { gzip?: boolean } = {},
): Promise<HttpResult> {
  const raw = typeof csv === 'string' ? Buffer.from(csv, 'utf8') : csv;
  const gzip = options.gzip ?? true;
  return call(baseUrl, 'PUT', `/v1/scans/${scanGuid}/chunks/${seq}`, {
    token,
    body: new Uint8Array(gzip ? gzipSync(raw) : raw),
    headers: { 'content-type': 'text/csv', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
  });
}

/** Poll a scan until its status is OK or FAILED, or fail after `timeoutMs`. */
export async function waitForScan(baseUrl: string, token: string, scanGuid: string, timeoutMs = 30_000): Promise<ScanView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await call(baseUrl, 'GET', `/v1/scans/${scanGuid}`, { token });
    if (result.body.status === 'OK' || result.body.status === 'FAILED') return result.body as ScanView;
    if (Date.now() > deadline) throw new Error(`scan ${scanGuid} still ${result.body.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Quote one CSV field, doubling the quotes inside it. */
export function quote(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/**
 * Build CSV lines (no header) from rows of `[dir_path, name, size, atime, mtime, ctime]`,
 * with the folder and the name quoted. `fileRows` lists stored rows as the same fields joined by `|`.
 */
export function csvLines(rows: string[][], lineEnd = '\n'): string {
  return rows.map((row) => `${quote(row[0]!)},${quote(row[1]!)},${row.slice(2).join(',')}${lineEnd}`).join('');
}

/** Open a scan (a Windows one unless `overrides` sets another style) and return its GUID. */
export async function openScan(baseUrl: string, token: string, overrides: Partial<OpenScanRequest> = {}): Promise<string> {
  const result = await call(baseUrl, 'POST', '/v1/scans', { token, json: scanRequest(overrides) });
  if (result.status !== 201) throw new Error(`opening a scan failed with ${result.status}: ${JSON.stringify(result.body)}`);
  return result.body.scanGuid;
}

/** Complete a scan with the given counts and wait until it is OK or FAILED. */
export async function completeAndWait(
  baseUrl: string,
  token: string,
  scanGuid: string,
  counts: { chunkCount: number; rowCount: number },
): Promise<ScanView> {
  const result = await call(baseUrl, 'POST', `/v1/scans/${scanGuid}/complete`, { token, json: { ...counts, unreadableCount: 0 } });
  if (result.status !== 200) throw new Error(`completing scan ${scanGuid} failed with ${result.status}: ${JSON.stringify(result.body)}`);
  return waitForScan(baseUrl, token, scanGuid);
}

export interface HeldUpload {
  /** Send the rest of the body (nothing more) and let the request finish. */
  release(): void;
  /** The upload's response, once released. */
  response: Promise<Response>;
}

/**
 * Start a chunk upload that sends `firstBytes` (uncompressed CSV) and then holds the
 * body open until released, and give the server `settleMs` to start streaming it.
 */
export async function startHeldUpload(
  baseUrl: string,
  token: string,
  scanGuid: string,
  seq: number,
  firstBytes: string,
  settleMs = 300,
): Promise<HeldUpload> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const body = Readable.from(
    (async function* () {
      yield Buffer.from(firstBytes);
      await released;
    })(),
  );

  const response = fetch(`${baseUrl}/v1/scans/${scanGuid}/chunks/${seq}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body: Readable.toWeb(body) as ReadableStream,
    duplex: 'half',
  } as RequestInit);

  await new Promise((resolve) => setTimeout(resolve, settleMs));
  return { release, response };
}
