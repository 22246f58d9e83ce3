/**
 * The wire contract between `strata-agent` and the API: the chunk CSV layout and the
 * JSON bodies of the scan endpoints. The agent imports only this folder from `src/`.
 */

/** Columns every chunk must carry, in any order, named exactly so in its header line. */
export const REQUIRED_CHUNK_COLUMNS = [
  'dir_path',
  'name',
  'size_bytes',
  'atime_unix',
  'mtime_unix',
  'ctime_unix',
] as const;

/** Columns a chunk may add: the NTFS file reference number and the Win32 attribute bits. */
export const OPTIONAL_CHUNK_COLUMNS = ['frn', 'attributes'] as const;

export type ChunkColumn =
  | (typeof REQUIRED_CHUNK_COLUMNS)[number]
  | (typeof OPTIONAL_CHUNK_COLUMNS)[number];

/** How the agent's host spells paths: it decides the separator between a folder and a name. */
export type PathStyle = 'windows' | 'posix';

export type SourceType = 'NTFS' | 'SMB' | 'LucidLink' | 'POSIX';

/** Body of `POST /v1/scans`. */
export interface OpenScanRequest {
  /** The agent's own UUID for this scan; repeating it returns the same scan. */
  scanGuid: string;
  shareName: string;
  sourceType: SourceType;
  rootPath: string;
  pathStyle: PathStyle;
  /** Unix seconds, UTC. */
  startedAt: number;
  agentHost?: string;
  agentVersion?: string;
}

/** Body of `POST /v1/scans/{scanGuid}/complete`. */
export interface CompleteScanRequest {
  chunkCount: number;
  rowCount: number;
  /** Entries the agent could not read (permission denied, vanished during the walk). */
  unreadableCount: number;
}

export type ScanStatus = 'OPEN' | 'COMPLETING' | 'OK' | 'FAILED';

/** Body returned by `GET /v1/scans/{scanGuid}` and by the open and complete calls. */
export interface ScanView {
  scanGuid: string;
  shareName: string;
  status: ScanStatus;
  chunksReceived: number;
  chunksNormalized: number;
  rowsReceived: number;
  fileCount: number | null;
  dirCount: number | null;
  duplicateCount: number | null;
  unreadableCount: number | null;
  expectedChunks: number | null;
  expectedRows: number | null;
  /** The reason a FAILED scan failed (superseded, empty, a folder hash collision); null otherwise. */
  error: string | null;
}

/** Body returned by `PUT /v1/scans/{scanGuid}/chunks/{seq}`. */
export interface ChunkReceipt {
  seq: number;
  rows: number;
  sha256: string;
  /** True when this exact chunk had already been received and nothing was done again. */
  replayed: boolean;
}

/** Body of every error response. */
export interface ErrorBody {
  error: {
    code: string;
    message: string;
    /** Line of a rejected CSV chunk that failed (the header is line 1), when known. */
    line?: number;
    /** Row of a rejected Parquet chunk that failed (the first row is row 1). */
    row?: number;
    column?: string;
    limit?: string;
  };
}

/** Media types a chunk may be sent as; either may also carry `Content-Encoding: gzip`. */
export const CSV_MEDIA_TYPE = 'text/csv';
export const PARQUET_MEDIA_TYPE = 'application/vnd.apache.parquet';

/** HTTP statuses after which an agent should retry the same request unchanged. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Error code for a chunk whose first upload is still in flight; retry after `Retry-After`. */
export const CHUNK_IN_FLIGHT = 'CHUNK_IN_FLIGHT';
