import type { FindingKind } from './findingKinds.ts';

/**
 * Remediation actions, one per finding:
 * - `quarantine`: move an orphan under the quarantine prefix and keep it there.
 * - `delete`: move an orphan under the quarantine prefix, and delete it after the grace period.
 * - `mark_lost`: a stub whose Tier-2 copy is gone; the tier object becomes LOST.
 * - `replan`: a copy recorded but gone, with no stub; the tier object is PLANNED again.
 * - `cancel`: a plan whose file is in use again, or whose file is gone; CANCELLED.
 * - `recall`: a stubbed file in use again; RECALLING, so an agent brings it back.
 * - `close`: a stub whose path is gone from the source; DELETED.
 * - `review`: nothing is done automatically (a size mismatch needs a person).
 */
export const REMEDIATION_ACTIONS = ['quarantine', 'delete', 'mark_lost', 'replan', 'cancel', 'recall', 'close', 'review'] as const;
export type RemediationAction = (typeof REMEDIATION_ACTIONS)[number];

/** Actions that change a tier object's state, with the state they lead to. */
export const STATE_CHANGES: Partial<Record<RemediationAction, string>> = {
  mark_lost: 'LOST',
  replan: 'PLANNED',
  cancel: 'CANCELLED',
  recall: 'RECALLING',
  close: 'DELETED',
};

/** Treatment of orphans in a proposal: kept in quarantine, or deleted after the grace period. */
export type OrphanPolicy = 'quarantine' | 'delete';

/** Choose the action for one finding from its kind and the tier object's state when it was found. */
export function actionFor(kind: FindingKind, tierState: string | null, orphans: OrphanPolicy): RemediationAction {
  switch (kind) {
    case 'ORPHAN':
      return orphans;
    case 'MISSING':
      return tierState === 'STUBBED' || tierState === 'RECALLING' ? 'mark_lost' : 'replan';
    case 'STALE':
      return tierState === 'STUBBED' ? 'recall' : 'cancel';
    case 'BROKEN_REF':
      return tierState === 'STUBBED' ? 'close' : 'cancel';
    case 'SIZE_MISMATCH':
      return 'review';
  }
}
