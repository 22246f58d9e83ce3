import type pg from 'pg';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import type { Logger } from '../log.ts';
import type { Tier2Store } from '../tier2/tier2Store.ts';
import { quarantineKey } from './findingKinds.ts';
import { readProposal, type ProposalContent, type ProposalView, type ProposedAction } from './proposals.ts';
import { STATE_CHANGES } from './remediationActions.ts';
import { REFERENCING_STATES } from './sql/tierStates.ts';
import type { Tier2StoreResolver } from './storeResolver.ts';

/** Payload of a `remediation.execute` job: run a proposal's actions, or delete its quarantined orphans whose grace has passed. */
export interface RemediationJob {
  tenantId: string;
  proposalId: string;
  phase: 'execute' | 'purge';
}

export interface ExecutorOptions {
  stores: Tier2StoreResolver;
  log: Logger;
  /** Called after each action is recorded, with the number recorded by this call; tests use it to stop an execution midway. */
  afterAction?: (recorded: number) => void | Promise<void>;
}

export interface ExecutionResult {
  status: ProposalView['status'];
  /** Actions recorded by this call. */
  recorded: number;
  /** Unix seconds of the earliest pending deletion of a quarantined orphan, or null. */
  nextPurgeAt: number | null;
}

interface LedgerRow {
  seq: number;
  action: string;
  share_name: string;
  tier_id: string | null;
  object_key: string | null;
  quarantine_key: string | null;
}

/**
 * Run the actions of an EXECUTING proposal that are not done yet, in order. Each
 * action's effect on the database, its ledger row and its audit record commit in one
 * transaction, guarded by the ledger row still being PENDING, so a retry after a crash
 * never records an action twice. Tier-2 moves happen before that transaction and are
 * idempotent, so a move repeated after a crash does no harm. The proposal's content is
 * checked against its digest first: changed content stops the execution.
 */
export async function executeProposal(pool: pg.Pool, tenant: TenantRef, proposalId: string, options: ExecutorOptions): Promise<ExecutionResult> {
  const proposal = await withTenant(pool, tenant, Roles.sanitizer, (client) => readProposal(client, proposalId));
  if (proposal.status === 'PENDING') throw new Error(`proposal ${proposalId} has not been started; run strata sanitize execute`);
  if (!proposal.intact) throw new Error(`proposal ${proposalId} was changed after approval; its execution stops`);

  const content = JSON.parse(proposal.content) as ProposalContent;
  const bySeq = new Map(content.actions.map((action) => [action.seq, action]));
  const context = { proposal, content, stores: new Map<string, Tier2Store>() };
  let recorded = 0;

  for (;;) {
    const batch = await withTenant(pool, tenant, Roles.sanitizer, (client) =>
      client.query<LedgerRow>(
        `SELECT seq, action, share_name, tier_id, object_key, quarantine_key FROM remediation_action
          WHERE proposal_id = $1 AND status = 'PENDING' ORDER BY seq LIMIT 100`,
        [proposalId],
      ),
    );
    if (batch.rows.length === 0) break;

    for (const row of batch.rows) {
      const planned = bySeq.get(row.seq);
      if (!planned) throw new Error(`proposal ${proposalId} has no action ${row.seq}`);
      if (await runAction(pool, tenant, context, planned, options)) recorded++;
      await options.afterAction?.(recorded);
    }
  }

  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    const finished = await client.query(
      `UPDATE remediation_proposal SET status = 'EXECUTED', executed_at = extract(epoch from now())::bigint
        WHERE proposal_id = $1 AND status = 'EXECUTING'`,
      [proposalId],
    );
    if (finished.rowCount === 1) {
      await audit(client, 'remediation.executed', context, { recordedByLastAttempt: recorded });
      options.log.info({ proposalId, recorded }, 'remediation executed');
    }
    return { status: 'EXECUTED', recorded, nextPurgeAt: await nextPurge(client, proposalId) };
  });
}

interface ExecutionContext {
  proposal: ProposalView;
  content: ProposalContent;
  stores: Map<string, Tier2Store>;
}

/** Run one action; returns whether this call recorded it (false when another attempt already had). */
async function runAction(pool: pg.Pool, tenant: TenantRef, context: ExecutionContext, action: ProposedAction, options: ExecutorOptions): Promise<boolean> {
  const newState = STATE_CHANGES[action.action];
  if (newState) return changeState(pool, tenant, context, action, newState);
  if (action.action === 'quarantine' || action.action === 'delete') return quarantine(pool, tenant, context, action, options);
  return record(pool, tenant, context, action, 'SKIPPED', 'left for a person to review', {});
}

/**
 * Move a tier object to the state the action leads to, only if it is still in the
 * state the finding saw. Otherwise something else acted on it since, so the action is skipped.
 */
async function changeState(pool: pg.Pool, tenant: TenantRef, context: ExecutionContext, action: ProposedAction, newState: string): Promise<boolean> {
  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    if (!(await claimLedgerRow(client, context, action))) return false;
    const updated = await client.query(
      `UPDATE tier_object SET state = $3, acted_at = extract(epoch from now())::bigint WHERE tier_id = $1 AND state = $2`,
      [action.tierId, action.expectedState, newState],
    );
    const changed = updated.rowCount === 1;
    const outcome = changed ? `${action.expectedState} -> ${newState}` : `skipped: the tier object is no longer ${action.expectedState}`;
    await finishLedgerRow(client, context, action, changed ? 'DONE' : 'SKIPPED', outcome, {});
    return true;
  });
}

/**
 * Move an orphan under the quarantine prefix, unless a plan or stub refers to its key
 * by now. `delete` schedules the quarantined object's deletion after the grace period.
 */
async function quarantine(pool: pg.Pool, tenant: TenantRef, context: ExecutionContext, action: ProposedAction, options: ExecutorOptions): Promise<boolean> {
  const key = action.objectKey!;
  const referenced = await withTenant(pool, tenant, Roles.sanitizer, (client) => isReferenced(client, action.share, key));
  if (referenced) return record(pool, tenant, context, action, 'SKIPPED', 'skipped: a plan or stub refers to the object now', {});

  // NOTE: a plan that starts referring to the key between the check above and the move
  // finds the object gone. The purge step checks again before anything is deleted.
  const target = quarantineKey(context.proposal.proposalId, key);
  const store = await storeFor(tenant, context, action.share, options);
  await store.move(key, target);

  const purgeAfter = action.action === 'delete' ? Math.floor(Date.now() / 1000) + context.content.graceSeconds : null;
  return record(pool, tenant, context, action, 'QUARANTINED', `moved to ${target}`, { quarantineKey: target, purgeAfter });
}

/** Record an action's outcome with no other database change. */
async function record(
  pool: pg.Pool,
  tenant: TenantRef,
  context: ExecutionContext,
  action: ProposedAction,
  status: string,
  outcome: string,
  extra: { quarantineKey?: string; purgeAfter?: number | null },
): Promise<boolean> {
  return withTenant(pool, tenant, Roles.sanitizer, async (client) => {
    if (!(await claimLedgerRow(client, context, action))) return false;
    await finishLedgerRow(client, context, action, status, outcome, extra);
    return true;
  });
}

/** Lock an action's ledger row; false when it is no longer PENDING (an earlier attempt recorded it). */
async function claimLedgerRow(client: pg.ClientBase, context: ExecutionContext, action: ProposedAction): Promise<boolean> {
  const { rows } = await client.query<{ status: string }>('SELECT status FROM remediation_action WHERE proposal_id = $1 AND seq = $2 FOR UPDATE', [
    context.proposal.proposalId,
    action.seq,
  ]);
  return rows[0]?.status === 'PENDING';
}

async function finishLedgerRow(
  client: pg.ClientBase,
  context: ExecutionContext,
  action: ProposedAction,
  status: string,
  outcome: string,
  extra: { quarantineKey?: string; purgeAfter?: number | null },
): Promise<void> {
  await client.query(
    `UPDATE remediation_action SET status = $3, outcome = $4, quarantine_key = $5, purge_after = $6, done_at = extract(epoch from now())::bigint
      WHERE proposal_id = $1 AND seq = $2`,
    [context.proposal.proposalId, action.seq, status, outcome, extra.quarantineKey ?? null, extra.purgeAfter ?? null],
  );
  await audit(client, `remediation.${action.action}`, context, {
    seq: action.seq,
    kind: action.kind,
    status,
    outcome,
    share: action.share,
    tierId: action.tierId,
    objectKey: action.objectKey,
    findingId: action.findingId,
  });
}

/**
 * Delete the quarantined orphans of a proposal whose grace period has passed. An
 * object whose original key a plan or stub refers to by now is kept in quarantine and
 * never deleted. Each deletion is recorded once; a repeated delete of a deleted
 * object succeeds, so a retry after a crash is harmless.
 */
export async function purgeQuarantine(pool: pg.Pool, tenant: TenantRef, proposalId: string, options: ExecutorOptions): Promise<ExecutionResult> {
  const proposal = await withTenant(pool, tenant, Roles.sanitizer, (client) => readProposal(client, proposalId));
  const content = JSON.parse(proposal.content) as ProposalContent;
  const bySeq = new Map(content.actions.map((action) => [action.seq, action]));
  const context = { proposal, content, stores: new Map<string, Tier2Store>() };
  let recorded = 0;

  const due = await withTenant(pool, tenant, Roles.sanitizer, (client) =>
    client.query<LedgerRow>(
      `SELECT seq, action, share_name, tier_id, object_key, quarantine_key FROM remediation_action
        WHERE proposal_id = $1 AND status = 'QUARANTINED' AND purge_after <= extract(epoch from now())::bigint ORDER BY seq`,
      [proposalId],
    ),
  );
  for (const row of due.rows) {
    const action = bySeq.get(row.seq)!;
    const referenced = await withTenant(pool, tenant, Roles.sanitizer, (client) => isReferenced(client, row.share_name, row.object_key!));
    if (referenced) {
      await withTenant(pool, tenant, Roles.sanitizer, async (client) => {
        await client.query('UPDATE remediation_action SET purge_after = NULL, outcome = $3 WHERE proposal_id = $1 AND seq = $2', [
          proposalId,
          row.seq,
          'kept in quarantine: a plan or stub refers to the original key again',
        ]);
        await audit(client, 'remediation.purge_skipped', context, { seq: row.seq, objectKey: row.object_key, quarantineKey: row.quarantine_key });
      });
      continue;
    }

    const store = await storeFor(tenant, context, row.share_name, options);
    await store.delete(row.quarantine_key!);
    await withTenant(pool, tenant, Roles.sanitizer, async (client) => {
      const purged = await client.query(
        `UPDATE remediation_action SET status = 'PURGED', outcome = 'deleted after the grace period', done_at = extract(epoch from now())::bigint
          WHERE proposal_id = $1 AND seq = $2 AND status = 'QUARANTINED'`,
        [proposalId, row.seq],
      );
      if (purged.rowCount === 1) {
        recorded++;
        await audit(client, 'remediation.purged', context, { seq: action.seq, objectKey: row.object_key, quarantineKey: row.quarantine_key });
      }
    });
  }

  const nextPurgeAt = await withTenant(pool, tenant, Roles.sanitizer, (client) => nextPurge(client, proposalId));
  return { status: proposal.status, recorded, nextPurgeAt };
}

async function isReferenced(client: pg.ClientBase, share: string, key: string): Promise<boolean> {
  const { rows } = await client.query(
    `SELECT 1 FROM tier_object WHERE share_name = $1 AND tier2_key = $2 AND state IN ${REFERENCING_STATES} LIMIT 1`,
    [share, key],
  );
  return rows.length > 0;
}

async function nextPurge(client: pg.ClientBase, proposalId: string): Promise<number | null> {
  const { rows } = await client.query<{ at: string | null }>(
    "SELECT min(purge_after) AS at FROM remediation_action WHERE proposal_id = $1 AND status = 'QUARANTINED'",
    [proposalId],
  );
  return rows[0]?.at == null ? null : Number(rows[0].at);
}

async function storeFor(tenant: TenantRef, context: ExecutionContext, share: string, options: ExecutorOptions): Promise<Tier2Store> {
  let store = context.stores.get(share);
  if (!store) {
    store = await options.stores(tenant, share);
    context.stores.set(share, store);
  }
  return store;
}

/** Append an audit record naming the proposal, its digest, requester and approvers. */
async function audit(client: pg.ClientBase, action: string, context: ExecutionContext, details: Record<string, unknown>): Promise<void> {
  await client.query('INSERT INTO audit_log (actor, action, details) VALUES ($1, $2, $3)', [
    'remediation',
    action,
    {
      proposalId: context.proposal.proposalId,
      digest: context.proposal.digest,
      requestedBy: context.proposal.requestedBy,
      approvers: context.proposal.approvers,
      ...details,
    },
  ]);
}
