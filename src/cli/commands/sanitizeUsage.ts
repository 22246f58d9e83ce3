import { ADMIN_TOKEN_ENV } from '../adminToken.ts';

const TOKEN_HELP = `The caller's admin token is read from ${ADMIN_TOKEN_ENV}, or from the first line of stdin
with --token-stdin, never from the command line. The token must have the admin scope
and name a person (\`strata token create --person WHO\`).`;

/** Help texts of `strata sanitize` and its actions. */
export const usages = {
  main: `Usage: strata sanitize [reconcile] --tenant CODE [--share NAME] [options]
       strata sanitize <inventory|findings|propose|show|approve|execute|purge> [options]

Reconcile a tenant's plan and stubs with its scans and its Tier-2 inventories, and
repair what drifted with a dry-run proposal that two other people approve.

  strata sanitize --tenant CODE [--share NAME] [--older-than D]   reconcile, print counts per kind
  strata sanitize inventory --tenant CODE --share NAME             list an S3 or Azure target on the server
  strata sanitize findings --tenant CODE --run ID [--csv FILE]     summary of a run, findings as CSV
  strata sanitize propose --tenant CODE --run ID                   build a remediation proposal (dry run)
  strata sanitize show --tenant CODE --proposal ID [--out FILE]    print a proposal and its digest
  strata sanitize approve --tenant CODE --proposal ID --digest HEX approve a proposal's digest
  strata sanitize execute --tenant CODE --proposal ID [--wait]     run an approved proposal
  strata sanitize purge --tenant CODE --proposal ID                delete quarantined orphans past their grace period

Run \`strata sanitize <action> --help\` for each action's options.`,

  reconcile: `Usage: strata sanitize [reconcile] --tenant CODE [--share NAME] [--older-than D] [--inline] [--timeout S]

Queue a sanitize.reconcile job and wait for it: compare tier objects with the latest OK
scan and the latest complete Tier-2 inventory of each share, store the findings
(MISSING, ORPHAN, STALE, BROKEN_REF, SIZE_MISMATCH) under a new run id, and print
counts and bytes per kind with the change since the previous run.

Options:
  --tenant CODE       tenant code
  --share NAME        only this share (default: all shares)
  --older-than D      for shares without a policy (nor a tenant \`*\` policy): a planned or
                      stubbed file used more recently than this is STALE (365d, 12w, 2y;
                      default 365d)
  --inline            reconcile in this process instead of through a worker
  --timeout S         seconds to wait for the worker (default 600)`,

  inventory: `Usage: strata sanitize inventory --tenant CODE --share NAME [--timeout S]

Queue a tier2.inventory job that lists the share's Tier-2 target page by page from the
server (S3 and Azure Blob targets; a filesystem or SMB target is listed by
\`strata-agent inventory\` at the site), and wait until it is complete.

Options:
  --tenant CODE   tenant code
  --share NAME    the share whose target is listed
  --timeout S     seconds to wait (default 3600)`,

  findings: `Usage: strata sanitize findings --tenant CODE --run ID [--csv FILE]

Print a run's counts and bytes per kind; with --csv, write every finding to FILE
(UTF-8, header line, mode 0600).

Options:
  --tenant CODE   tenant code
  --run ID        the run id that reconciliation printed
  --csv FILE      write the findings to FILE`,

  propose: `Usage: strata sanitize propose --tenant CODE --run ID [--orphans delete|quarantine] [--out FILE] [--token-stdin]

Build a remediation proposal from a run's findings, as a dry run that changes nothing:
orphans are quarantined (and with delete, deleted after STRATA_QUARANTINE_GRACE_SECONDS),
missing stubbed objects marked LOST, stale plans cancelled and stale stubs recalled,
broken references closed, size mismatches left for review. Prints the SHA-256 digest of
the proposal's canonical content, which two other people approve before
STRATA_PROPOSAL_TTL_SECONDS pass.

Options:
  --tenant CODE        tenant code
  --run ID             the reconciliation run
  --orphans POLICY     delete (default): quarantine, then delete after the grace period;
                       quarantine: quarantine and keep
  --out FILE           also write the canonical content to FILE (its sha256sum is the digest)
  --token-stdin        read the admin token from stdin

${TOKEN_HELP}`,

  show: `Usage: strata sanitize show --tenant CODE --proposal ID [--out FILE]

Print a proposal: status, requester, digest, expiry, approvers and its actions by kind.

Options:
  --tenant CODE     tenant code
  --proposal ID     the proposal id
  --out FILE        write the canonical content to FILE for review`,

  approve: `Usage: strata sanitize approve --tenant CODE --proposal ID --digest HEX [--token-stdin]

Approve a proposal's digest as the person behind the admin token. Rejected when the
digest is not the proposal's, the proposal expired, changed or is no longer pending,
the approver requested it, or the same person approved already.

Options:
  --tenant CODE     tenant code
  --proposal ID     the proposal id
  --digest HEX      the digest you reviewed (from \`strata sanitize show\`)
  --token-stdin     read the admin token from stdin

${TOKEN_HELP}`,

  execute: `Usage: strata sanitize execute --tenant CODE --proposal ID [--wait] [--timeout S] [--token-stdin]

Start an approved proposal: it needs approvals of its current digest by two different
people other than the requester, through admin tokens still valid, and must not have
expired. The remediation.execute job then runs each action once, audited with the
proposal id and the approvers, and resumes where it stopped after a crash.

Options:
  --tenant CODE     tenant code
  --proposal ID     the proposal id
  --wait            wait until every action is recorded
  --timeout S       seconds to wait with --wait (default 3600)
  --token-stdin     read the admin token from stdin

${TOKEN_HELP}`,

  purge: `Usage: strata sanitize purge --tenant CODE --proposal ID

Queue the deletion of an executed proposal's quarantined orphans whose grace period
(STRATA_QUARANTINE_GRACE_SECONDS when proposed) has passed. Execution queues this
itself for the end of the grace period; run it when that job was lost. Orphans that a
plan or stub refers to again are kept.

Options:
  --tenant CODE     tenant code
  --proposal ID     the proposal id`,
};
