/**
 * The wire contract of the acting endpoints: how an agent claims files to tier or
 * recall, and reports what it did. Ids and fencing tokens are 64-bit integers sent as
 * decimal strings, because JSON numbers lose precision above 2^53.
 *
 * Endpoints (token scope `act`):
 * - `POST /v1/actions/claim` with `ClaimRequest`, returning `ClaimResponse`.
 * - `POST /v1/actions/{id}/result` with `ActionResult` (without `id`).
 * - `POST /v1/actions/results` with `ActionResultBatch`, returning `ActionResultBatchResponse`.
 * - `POST /v1/actions/renew` with `RenewLeasesRequest`, returning `RenewLeasesResponse`:
 *   extends the leases an agent still holds, so that a long copy keeps its file.
 * - `GET /v1/shares/{share}/target`: the share's Tier-2 target with its credentials,
 *   which the agent keeps in memory only.
 */

/** Kind of a claimed action: copy a file out and stub it, or bring it back. */
export type ActionKind = 'tier' | 'recall';

/** Body of `POST /v1/actions/claim`. */
export interface ClaimRequest {
  share: string;
  kind: ActionKind;
  /** How many actions to claim at most in this request. */
  max: number;
  /** Lease length; the server bounds it and uses its default when absent. */
  leaseSeconds?: number;
  /** Recall only: a glob over the full source path, `*` within a segment and `**` across. */
  pattern?: string;
}

/** One claimed action, leased to the claiming agent until `leaseExpiresAt`. */
export interface ClaimedAction {
  id: string;
  /** Fencing token: a result carrying an older token than the object's current one is rejected. */
  fence: string;
  kind: ActionKind;
  /** Unix seconds, by the server's clock. */
  leaseExpiresAt: number;
  /**
   * Length of the lease granted, in seconds. Agents time renewals from when they
   * received the claim plus this length, so that their clock need not match the server's.
   */
  leaseSeconds: number;
  /** The file as the scan saw it: canonical folder path and name, on the agent's host. */
  dirPath: string;
  name: string;
  sizeBytes: number;
  mtimeUnix: number;
  /** NTFS file reference number or POSIX inode number as scanned, when known. */
  fileId: string | null;
  /** Key of the file's object in the share's Tier-2 target. */
  tier2Key: string;
  /** Recall only: hex SHA-256 recorded when the file was tiered. */
  sha256: string | null;
}

export interface ClaimResponse {
  actions: ClaimedAction[];
}

/**
 * Outcome of one action. `STALE` means the file changed since the scan and was
 * left alone; `FAILED` carries an error message for the operator.
 */
export type ActionOutcome = 'STUBBED' | 'REHYDRATED' | 'STALE' | 'FAILED';

export interface ActionResult {
  id: string;
  fence: string;
  outcome: ActionOutcome;
  /** Hex SHA-256 of the content copied or restored; required with STUBBED and REHYDRATED. */
  sha256?: string;
  sizeBytes?: number;
  /** With FAILED or STALE: why, at most 2,000 characters. */
  error?: string;
}

export interface ActionResultBatch {
  results: ActionResult[];
}

/** Per result, whether the server took it; a rejected one names the reason. */
export interface ActionResultBatchResponse {
  results: { id: string; accepted: boolean; reason?: string }[];
}

/** Body of `POST /v1/actions/renew`: leases the agent still holds, each named by id and fence. */
export interface RenewLeasesRequest {
  leases: { id: string; fence: string }[];
  /** New lease length from now; the server bounds it and uses its default when absent. A lease is never shortened. */
  leaseSeconds?: number;
}

/**
 * Per lease, whether it was extended. A lease that was not is lost: its file was claimed
 * again after the lease ran out, its result is already recorded, or it is unknown. The
 * agent must then leave the file as it is.
 */
export interface RenewLeasesResponse {
  leases: { id: string; renewed: boolean; leaseExpiresAt?: number; leaseSeconds?: number; reason?: string }[];
}
