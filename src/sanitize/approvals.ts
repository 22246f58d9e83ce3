import type pg from 'pg';
import type { Principal } from '../control/authenticate.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';
import type { Approver } from './proposals.ts';
import { readProposal, type ProposalView } from './proposals.ts';

/** Distinct people, none of them the requester, who must approve a proposal's digest before it runs. */
export const REQUIRED_APPROVALS = 2;

/**
 * Return the person behind an admin token of `tenant`, or raise a 403 naming what is
 * missing: the admin scope, the tenant, or a person recorded on the token.
 */
export function adminPerson(principal: Principal, tenant: TenantRef): Approver {
  if (principal.tenant.id !== tenant.id) {
    throw StrataError.forbidden(`token ${principal.tokenName} belongs to tenant ${principal.tenant.code}, not ${tenant.code}`);
  }
  if (!principal.scopes.includes('admin')) throw StrataError.forbidden(`token ${principal.tokenName} lacks the admin scope`);
  if (!principal.person) {
    throw StrataError.forbidden(
      `token ${principal.tokenName} names no person; issue an admin token with \`strata token create --person WHO\` to request or approve remediation`,
    );
  }
  return { tokenId: principal.tokenId, person: principal.person };
}

/** Reject a proposal that is not PENDING, has expired, or whose content no longer matches its digest. */
function checkApprovable(proposal: ProposalView, now: number): void {
  if (proposal.status !== 'PENDING') {
    throw StrataError.conflict('PROPOSAL_NOT_PENDING', `proposal ${proposal.proposalId} is ${proposal.status}; it can no longer be approved`);
  }
  if (now >= proposal.expiresAt) {
    throw StrataError.conflict(
      'PROPOSAL_EXPIRED',
      `proposal ${proposal.proposalId} expired at ${new Date(proposal.expiresAt * 1000).toISOString()}; reconcile and propose again`,
    );
  }
  if (!proposal.intact) {
    throw StrataError.conflict(
      'PROPOSAL_CHANGED',
      `proposal ${proposal.proposalId} was changed after it was made, so its approvals are void; propose again`,
    );
  }
}

/**
 * Approve a proposal's digest as one person. The digest must be the one the approver
 * reviewed (`strata sanitize show` prints it), and must match the content as stored
 * now. The requester cannot approve, and a person approves once, whatever the token.
 */
export async function approveProposal(
  pool: pg.Pool,
  tenant: TenantRef,
  request: { proposalId: string; digest: string; approver: Approver },
): Promise<ProposalView> {
  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    const proposal = await readProposal(client, request.proposalId, true);
    checkApprovable(proposal, Math.floor(Date.now() / 1000));

    if (request.digest.toLowerCase() !== proposal.digest) {
      throw StrataError.conflict(
        'DIGEST_MISMATCH',
        `digest ${request.digest} is not proposal ${proposal.proposalId}'s digest ${proposal.digest}; review the proposal as it is now`,
      );
    }
    if (request.approver.person === proposal.requestedBy) {
      throw StrataError.forbidden(`${request.approver.person} requested proposal ${proposal.proposalId} and cannot approve it; another person must`);
    }

    const inserted = await client.query(
      `INSERT INTO remediation_approval (proposal_id, approver_person, approver_token, digest)
       VALUES ($1, $2, $3, $4) ON CONFLICT (proposal_id, approver_person) DO NOTHING`,
      [proposal.proposalId, request.approver.person, request.approver.tokenId, Buffer.from(proposal.digest, 'hex')],
    );
    if (inserted.rowCount === 0) {
      throw StrataError.conflict('ALREADY_APPROVED', `${request.approver.person} has already approved proposal ${proposal.proposalId}; another person must`);
    }
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'remediation.approved', $2)", [
      request.approver.person,
      { proposalId: proposal.proposalId, digest: proposal.digest, token: request.approver.tokenId },
    ]);
    return readProposal(client, proposal.proposalId);
  });
}

/**
 * Move an approved proposal to EXECUTING, once: it must be PENDING, unexpired, intact
 * and approved by REQUIRED_APPROVALS people other than the requester, through tokens
 * not revoked since (`validTokens`, checked by the caller against the control schema).
 * The executor's ledger gets one row per action in the same transaction. Starting an
 * EXECUTING proposal again returns it, so the caller can queue its job once more.
 */
export async function startExecution(
  pool: pg.Pool,
  tenant: TenantRef,
  request: { proposalId: string; startedBy: Approver; validTokens: (tokenIds: string[]) => Promise<Set<string>> },
): Promise<ProposalView> {
  const approvals = await withTenant(pool, tenant, Roles.sanitizer, (client) =>
    client.query<{ approver_token: string }>('SELECT approver_token FROM remediation_approval WHERE proposal_id = $1', [request.proposalId]),
  );
  const valid = await request.validTokens(approvals.rows.map((row) => row.approver_token));

  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    const proposal = await readProposal(client, request.proposalId, true);
    if (proposal.status === 'EXECUTING') return proposal;
    checkApprovable(proposal, Math.floor(Date.now() / 1000));

    const approvers = await client.query<{ approver_person: string; approver_token: string }>(
      `SELECT a.approver_person, a.approver_token
         FROM remediation_approval a JOIN remediation_proposal p ON p.proposal_id = a.proposal_id
        WHERE a.proposal_id = $1 AND a.digest = p.digest AND a.approver_person <> p.requested_by_person`,
      [proposal.proposalId],
    );
    const people = new Set(approvers.rows.filter((row) => valid.has(row.approver_token)).map((row) => row.approver_person));
    if (people.size < REQUIRED_APPROVALS) {
      throw StrataError.forbidden(
        `proposal ${proposal.proposalId} has ${people.size} valid approval(s) of its digest; it needs ${REQUIRED_APPROVALS} from different people other than the requester`,
      );
    }

    await client.query(
      `INSERT INTO remediation_action (proposal_id, seq, action, share_name, tier_id, object_key)
       SELECT $1, a.seq, a.action, a.share, a.tier_id, a.object_key
         FROM jsonb_to_recordset($2::jsonb) AS a (seq int, action text, share text, tier_id bigint, object_key text)
       ON CONFLICT DO NOTHING`,
      [
        proposal.proposalId,
        JSON.stringify(proposal.actions.map((action) => ({ seq: action.seq, action: action.action, share: action.share, tier_id: action.tierId, object_key: action.objectKey }))),
      ],
    );
    await client.query(
      "UPDATE remediation_proposal SET status = 'EXECUTING', execution_started_at = extract(epoch from now())::bigint WHERE proposal_id = $1",
      [proposal.proposalId],
    );
    await client.query("INSERT INTO audit_log (actor, action, details) VALUES ($1, 'remediation.started', $2)", [
      request.startedBy.person,
      { proposalId: proposal.proposalId, digest: proposal.digest, approvers: [...people].sort(), requestedBy: proposal.requestedBy },
    ]);
    return readProposal(client, proposal.proposalId);
  });
}
