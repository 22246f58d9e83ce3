/**
 * An in-memory claim source for the agent's unit tests: it hands out the actions it was
 * given in claim-sized batches and records every result. The real server is exercised
 * by the end-to-end tests.
 */
import type {
  ActionResult,
  ActionResultBatchResponse,
  ClaimedAction,
  ClaimRequest,
  ClaimResponse,
} from '../../../src/wire/acting.ts';
import type { ActionSource } from '../../../agent/tiering/runActions.ts';

export class ClaimDouble implements ActionSource {
  readonly waiting: ClaimedAction[];
  readonly claims: ClaimRequest[] = [];
  readonly results: ActionResult[] = [];
  readonly batches: number[] = [];
  /** Result ids the server should reject, as after a lease was taken over. */
  readonly rejectIds = new Set<string>();

  constructor(actions: ClaimedAction[]) {
    this.waiting = [...actions];
  }

  async claimActions(request: ClaimRequest): Promise<ClaimResponse> {
    this.claims.push(request);
    return { actions: this.waiting.splice(0, request.max) };
  }

  async reportResults(results: ActionResult[]): Promise<ActionResultBatchResponse> {
    this.batches.push(results.length);
    this.results.push(...results);
    return { results: results.map((result) => ({ id: result.id, accepted: !this.rejectIds.has(result.id), reason: this.rejectIds.has(result.id) ? 'stale fence' : undefined })) };
  }
}

let nextId = 1;

/** Builds a claim for a file as a scan would have seen it. */
export function claimFor(
  dirPath: string,
  name: string,
  file: { sizeBytes: number; mtimeUnix: number; fileId: string | null },
  overrides: Partial<ClaimedAction> = {},
): ClaimedAction {
  const id = String(nextId++);
  return {
    id,
    fence: '1',
    kind: 'tier',
    leaseExpiresAt: Math.floor(Date.now() / 1000) + 300,
    leaseSeconds: 300,
    dirPath,
    name,
    sizeBytes: file.sizeBytes,
    mtimeUnix: file.mtimeUnix,
    fileId: file.fileId,
    tier2Key: `share/${id}/${encodeURIComponent(name)}`,
    sha256: null,
    ...overrides,
  };
}
