/**
 * The wire contract of agent inventories: the agent lists a filesystem or SMB Tier-2
 * root and uploads it in chunks, as it uploads scans (token scope `inventory`).
 *
 * - `POST /v1/inventories` with `OpenInventoryRequest` opens a run (idempotent on the GUID).
 * - `PUT /v1/inventories/{inventoryGuid}/chunks/{seq}` with `Content-Type:
 *   application/x-ndjson`: UTF-8 lines of `InventoryLine`. A repeat of a received chunk
 *   with the same bytes is acknowledged without storing it again, and different bytes
 *   are a 409.
 * - `POST /v1/inventories/{inventoryGuid}/complete` with `CompleteInventoryRequest`.
 * - `GET /v1/inventories/{inventoryGuid}` returns `InventoryStatus`.
 */

export const INVENTORY_MEDIA_TYPE = 'application/x-ndjson';

export interface OpenInventoryRequest {
  inventoryGuid: string;
  /** The share whose Tier-2 target the agent lists. */
  share: string;
}

/** One listed object. `key` is relative to the target's root, `/` between segments. */
export interface InventoryLine {
  key: string;
  size: number;
  /** Hex SHA-256 when the store recorded one. */
  sha256?: string;
  /** Unix seconds of the last modification. */
  mtime?: number;
}

export interface CompleteInventoryRequest {
  chunkCount: number;
  objectCount: number;
}

export interface InventoryStatus {
  inventoryGuid: string;
  share: string;
  status: 'RUNNING' | 'COMPLETE' | 'FAILED';
  objectCount: number;
  totalBytes: number;
}
