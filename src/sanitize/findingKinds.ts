/** Finding kinds: the ways the plan, the scans and Tier-2 can disagree. */
export const FINDING_KINDS = ['MISSING', 'ORPHAN', 'STALE', 'BROKEN_REF', 'SIZE_MISMATCH'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/**
 * Key prefix of quarantined objects, relative to a target's root or prefix. Reconciliation
 * never reports objects under it as orphans.
 * NOTE: a share whose own Tier-2 keys start with this prefix would have its objects
 * ignored as orphans; Tier-2 keys made by the acting stage start with other text.
 */
export const QUARANTINE_PREFIX = '.strata-quarantine/';

/** Build the quarantine key of one object moved by one proposal. */
export function quarantineKey(proposalId: string, objectKey: string): string {
  return `${QUARANTINE_PREFIX}${proposalId}/${objectKey}`;
}
