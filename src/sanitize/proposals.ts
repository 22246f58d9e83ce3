import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';
import { canonicalJson, sha256Hex, type JsonValue } from './canonicalJson.ts';
import { FINDING_KINDS, type FindingKind } from './findingKinds.ts';
import { actionFor, type OrphanPolicy, type RemediationAction } from './remediationActions.ts';

/** A person acting through an admin token: who requests, approves or starts remediation. */
export interface Approver {
  tokenId: string;
  person: string;
}

/** One planned action of a proposal, as serialised into its content. */
export interface ProposedAction {
  seq: number;
  findingId: number;
  kind: FindingKind;
  action: RemediationAction;
  share: string;
  /** The tier object acted on; null for orphans. */
  tierId: number | null;
  /** The tier object's state when the finding was made; the action is skipped if it changed. */
  expectedState: string | null;
  objectKey: string | null;
  fullPath: string | null;
  sizeBytes: number | null;
}

/** A proposal's content: everything the approvers approve, serialised canonically. */
export interface ProposalContent {
  version: 1;
  proposalId: string;
  tenantId: string;
  runId: number;
  requestedBy: string;
  createdAt: number;
  expiresAt: number;
  orphans: OrphanPolicy;
  graceSeconds: number;
  actions: ProposedAction[];
}

export interface ProposalView {
  proposalId: string;
  runId: number;
  status: 'PENDING' | 'EXECUTING' | 'EXECUTED';
  requestedBy: string;
  createdAt: number;
  expiresAt: number;
  /** Hex SHA-256 of the content as stored now. */
  digest: string;
  /** False when the stored content no longer matches the digest it was made with. */
  intact: boolean;
  approvers: string[];
  content: string;
  actions: ProposedAction[];
}

interface FindingRow {
  finding_id: string;
  kind: FindingKind;
  share_name: string;
  tier_id: string | null;
  tier_state: string | null;
  object_key: string | null;
  full_path: string | null;
  size_bytes: string | null;
  tier2_size_bytes: string | null;
}

/**
 * Build a remediation proposal from a finished reconciliation: one action per finding,
 * in the order of FINDING_KINDS, then by path or key. This is the dry run: it writes the proposal and
 * nothing else. The content is stored as canonical JSON with its SHA-256, which the
 * approvers approve.
 */
export async function createProposal(
  pool: pg.Pool,
  tenant: TenantRef,
  request: { runId: number; requester: Approver; orphans: OrphanPolicy; ttlSeconds: number; graceSeconds: number },
): Promise<ProposalView> {
  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    const run = await client.query<{ status: string }>('SELECT status FROM sanitize_run WHERE run_id = $1', [request.runId]);
    if (!run.rows[0]) throw StrataError.notFound(`sanitize run ${request.runId}`);
    if (run.rows[0].status !== 'DONE') {
      throw StrataError.conflict('RUN_NOT_DONE', `sanitize run ${request.runId} is ${run.rows[0].status}; propose once it is DONE`);
    }

    const findings = await client.query<FindingRow>(
      `SELECT finding_id, kind, share_name, tier_id, tier_state, object_key, full_path, size_bytes, tier2_size_bytes
         FROM sanitize_finding WHERE run_id = $1
        ORDER BY array_position($2::text[], kind), coalesce(full_path, object_key) COLLATE "C", finding_id`,
      [request.runId, [...FINDING_KINDS]],
    );

    const createdAt = Math.floor(Date.now() / 1000);
    const content: ProposalContent = {
      version: 1,
      proposalId: randomUUID(),
      tenantId: tenant.id,
      runId: request.runId,
      requestedBy: request.requester.person,
      createdAt,
      expiresAt: createdAt + request.ttlSeconds,
      orphans: request.orphans,
      graceSeconds: request.graceSeconds,
      actions: findings.rows.map((row, seq) => ({
        seq,
        findingId: Number(row.finding_id),
        kind: row.kind,
        action: actionFor(row.kind, row.tier_state, request.orphans),
        share: row.share_name,
        tierId: row.tier_id === null ? null : Number(row.tier_id),
        expectedState: row.tier_state,
        objectKey: row.object_key,
        fullPath: row.full_path,
        sizeBytes: findingBytes(row),
      })),
    };
    const text = canonicalJson(content as unknown as JsonValue);
    const digest = sha256Hex(text);

    await client.query(
      `INSERT INTO remediation_proposal
         (proposal_id, run_id, requested_by_token, requested_by_person, created_at, expires_at, content, digest, action_count)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [content.proposalId, request.runId, request.requester.tokenId, request.requester.person, createdAt, content.expiresAt, text, Buffer.from(digest, 'hex'), content.actions.length],
    );
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'remediation.proposed', $2)", [
      request.requester.person,
      { proposalId: content.proposalId, runId: request.runId, digest, actions: content.actions.length, requesterToken: request.requester.tokenId },
    ]);
    return toView({ ...proposalRowOf(content, text, digest), approvers: [] });
  });
}

/** Return the bytes a finding is about: the file's size, or the Tier-2 object's for an orphan. */
function findingBytes(row: FindingRow): number | null {
  const bytes = row.size_bytes ?? row.tier2_size_bytes;
  return bytes === null ? null : Number(bytes);
}

interface ProposalRow {
  proposal_id: string;
  run_id: string;
  status: ProposalView['status'];
  requested_by_person: string;
  created_at: string;
  expires_at: string;
  content: string;
  digest: Buffer;
  approvers: string[];
}

function proposalRowOf(content: ProposalContent, text: string, digest: string): Omit<ProposalRow, 'approvers'> {
  return {
    proposal_id: content.proposalId,
    run_id: String(content.runId),
    status: 'PENDING',
    requested_by_person: content.requestedBy,
    created_at: String(content.createdAt),
    expires_at: String(content.expiresAt),
    content: text,
    digest: Buffer.from(digest, 'hex'),
  };
}

function toView(row: ProposalRow): ProposalView {
  const current = sha256Hex(row.content);
  let actions: ProposedAction[] = [];
  try {
    actions = (JSON.parse(row.content) as ProposalContent).actions ?? [];
  } catch {
    // Content that no longer parses is reported as not intact below; there is nothing to list.
  }
  return {
    proposalId: row.proposal_id,
    runId: Number(row.run_id),
    status: row.status,
    requestedBy: row.requested_by_person,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    digest: current,
    intact: current === row.digest.toString('hex'),
    approvers: row.approvers,
    content: row.content,
    actions,
  };
}

/** Read a proposal with the people whose approvals match its digest, optionally locking it. */
export async function readProposal(client: pg.ClientBase, proposalId: string, lock = false): Promise<ProposalView> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(proposalId)) {
    throw StrataError.invalid('INVALID_PROPOSAL_ID', `proposal id "${proposalId}" is not a UUID`);
  }
  const { rows } = await client.query<ProposalRow>(
    `SELECT p.proposal_id, p.run_id, p.status, p.requested_by_person, p.created_at, p.expires_at, p.content, p.digest,
            ARRAY(SELECT a.approver_person FROM remediation_approval a
                   WHERE a.proposal_id = p.proposal_id AND a.digest = p.digest ORDER BY a.approved_at, a.approver_person) AS approvers
       FROM remediation_proposal p WHERE p.proposal_id = $1${lock ? ' FOR UPDATE OF p' : ''}`,
    [proposalId],
  );
  if (!rows[0]) throw StrataError.notFound(`proposal ${proposalId}`);
  return toView(rows[0]);
}

/** Read one proposal in its own transaction. */
export async function getProposal(pool: pg.Pool, tenant: TenantRef, proposalId: string): Promise<ProposalView> {
  return withTenant(pool, tenant, Roles.sanitizer, (client) => readProposal(client, proposalId));
}
