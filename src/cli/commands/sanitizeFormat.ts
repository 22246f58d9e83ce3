import { FINDING_KINDS } from '../../sanitize/findingKinds.ts';
import type { ProposalView } from '../../sanitize/proposals.ts';
import type { RunSummary } from '../../sanitize/reconcile.ts';
import { formatBytes, formatCount, formatTable, printable } from '../format.ts';

function signed(value: number, format: (n: number) => string): string {
  if (value === 0) return '0';
  return value > 0 ? `+${format(value)}` : `-${format(-value)}`;
}

/** Format a reconciliation's counts and bytes per kind with the change since the previous run. */
export function formatRunSummary(summary: RunSummary): string {
  const rows = FINDING_KINDS.map((kind) => {
    const total = summary.totals[kind];
    const delta = summary.delta[kind];
    return [kind, formatCount(total.findings), formatBytes(total.bytes), signed(delta.findings, formatCount), signed(delta.bytes, formatBytes)];
  });
  const since = summary.previousRunId === null ? 'no previous run' : `change since run ${summary.previousRunId}`;
  const lines = [
    `Sanitizer run ${summary.runId} (${summary.share === null ? 'all shares' : `share ${printable(summary.share)}`}): ${summary.status}; ${since}`,
    formatTable(['kind', 'findings', 'bytes', 'Δ findings', 'Δ bytes'], rows),
  ];
  if (summary.sharesWithoutInventory.length > 0) {
    lines.push(
      `note: no complete Tier-2 inventory of ${summary.sharesWithoutInventory.map(printable).join(', ')}; ` +
        'MISSING, ORPHAN and SIZE_MISMATCH were not checked there (run `strata-agent inventory` or `strata sanitize inventory`)',
    );
  }
  return lines.join('\n');
}

/** Format a proposal: its digest, expiry, approvals and the count of each action. */
export function formatProposal(proposal: ProposalView): string {
  const counts = new Map<string, { actions: number; bytes: number }>();
  for (const action of proposal.actions) {
    const key = `${action.kind} -> ${action.action}`;
    const entry = counts.get(key) ?? { actions: 0, bytes: 0 };
    entry.actions++;
    entry.bytes += action.sizeBytes ?? 0;
    counts.set(key, entry);
  }
  const rows = [...counts].map(([key, entry]) => [key, formatCount(entry.actions), formatBytes(entry.bytes)]);
  return [
    `Proposal ${proposal.proposalId} for run ${proposal.runId}: ${proposal.status}${proposal.intact ? '' : ' (CHANGED since it was made: approvals are void)'}`,
    `  requested by: ${printable(proposal.requestedBy)}`,
    `  digest:       ${proposal.digest} (SHA-256 of the canonical content)`,
    `  expires:      ${new Date(proposal.expiresAt * 1000).toISOString()}`,
    `  approved by:  ${proposal.approvers.length === 0 ? 'nobody yet' : proposal.approvers.map(printable).join(', ')}`,
    '',
    rows.length === 0 ? 'No actions: the run found nothing to repair.' : formatTable(['finding -> action', 'actions', 'bytes'], rows),
  ].join('\n');
}
