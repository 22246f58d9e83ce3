import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cliActor } from '../../control/audit.ts';
import { activeAdminTokens } from '../../control/tokenRegistry.ts';
import { StrataError } from '../../errors.ts';
import { Roles } from '../../db/roles.ts';
import { startBoss } from '../../jobs/boss.ts';
import { SanitizeQueue } from '../../jobs/sanitizeQueue.ts';
import { requireDatabaseUrl } from '../../config.ts';
import { approveProposal, startExecution } from '../../sanitize/approvals.ts';
import { exportFindingsCsv } from '../../sanitize/findingsCsv.ts';
import { getInventory, openInventory } from '../../sanitize/inventoryRuns.ts';
import { createProposal, getProposal } from '../../sanitize/proposals.ts';
import { createReconcileRun, getRunSummary, reconcileRun } from '../../sanitize/reconcile.ts';
import type { Services } from '../../services.ts';
import { authenticateAdmin } from '../adminToken.ts';
import { parseCommand, positiveInt, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { MAX_AGE_SECONDS, parseDuration } from '../duration.ts';
import { requireTenant } from '../findTenant.ts';
import { formatProposal, formatRunSummary } from './sanitizeFormat.ts';
import { usages } from './sanitizeUsage.ts';

export const usage = usages.main;

/** Milliseconds between polls while waiting for a job's result. */
const POLL_MS = 500;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  if (action.startsWith('--') || action === 'reconcile') return reconcile(action === 'reconcile' ? rest : argv);

  const handlers: Record<string, (args: string[]) => Promise<number>> = {
    inventory,
    findings,
    propose,
    show,
    approve,
    execute,
    purge,
  };
  const handler = handlers[action];
  if (!handler) throw new UsageError(`unknown sanitize action "${action}"`, usage);
  return handler(rest);
}

async function reconcile(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, share: { type: 'string' }, 'older-than': { type: 'string' }, inline: { type: 'boolean' }, timeout: { type: 'string' } },
    usages.reconcile,
  );
  const code = required(options.tenant, 'tenant', usages.reconcile);
  const staleAfterSeconds = durationOption(options['older-than'] ?? '365d', 'older-than', usages.reconcile);
  const timeoutSeconds = positiveInt(options.timeout, 'timeout', usages.reconcile, 600);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const runId = await createReconcileRun(services.pool, tenant, { share: options.share, staleAfterSeconds, requestedBy: cliActor() });

    if (options.inline) {
      await reconcileRun(services.pool, tenant, runId, services.log);
    } else {
      await withQueue(services, (queue) => queue.reconcile({ tenantId: tenant.id, runId }));
      await waitFor(timeoutSeconds, `sanitize run ${runId}`, async () => (await getRunSummary(services.pool, tenant, runId)).status !== 'RUNNING');
    }
    console.log(formatRunSummary(await getRunSummary(services.pool, tenant, runId)));
    return 0;
  });
}

async function inventory(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, share: { type: 'string' }, timeout: { type: 'string' } }, usages.inventory);
  const code = required(options.tenant, 'tenant', usages.inventory);
  const share = required(options.share, 'share', usages.inventory);
  const timeoutSeconds = positiveInt(options.timeout, 'timeout', usages.inventory, 3600);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const inventoryGuid = randomUUID();
    await openInventory(services.pool, tenant, Roles.sanitizer, { inventoryGuid, share, source: 'server', openedBy: cliActor() });
    await withQueue(services, (queue) => queue.inventory({ tenantId: tenant.id, inventoryGuid }));

    await waitFor(timeoutSeconds, `inventory ${inventoryGuid}`, async () => (await getInventory(services.pool, tenant, Roles.sanitizer, inventoryGuid)).status !== 'RUNNING');
    const view = await getInventory(services.pool, tenant, Roles.sanitizer, inventoryGuid);
    console.log(`inventory ${inventoryGuid} of share ${share}: ${view.status}, ${view.objectCount} objects, ${view.totalBytes} bytes in ${view.pages} pages`);
    return view.status === 'COMPLETE' ? 0 : 1;
  });
}

async function findings(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, run: { type: 'string' }, csv: { type: 'string' } }, usages.findings);
  const code = required(options.tenant, 'tenant', usages.findings);
  const runId = positiveInt(required(options.run, 'run', usages.findings), 'run', usages.findings, 0);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    console.log(formatRunSummary(await getRunSummary(services.pool, tenant, runId)));
    if (options.csv) {
      const written = await exportFindingsCsv(services.pool, tenant, runId, options.csv);
      console.log(`${written} findings written to ${options.csv}`);
    }
    return 0;
  });
}

async function propose(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, run: { type: 'string' }, orphans: { type: 'string' }, out: { type: 'string' }, 'token-stdin': { type: 'boolean' } },
    usages.propose,
  );
  const code = required(options.tenant, 'tenant', usages.propose);
  const runId = positiveInt(required(options.run, 'run', usages.propose), 'run', usages.propose, 0);
  const orphans = options.orphans ?? 'delete';
  if (orphans !== 'delete' && orphans !== 'quarantine') throw new UsageError(`--orphans must be delete or quarantine, got "${orphans}"`, usages.propose);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const requester = await authenticateAdmin(services, tenant, options['token-stdin'] === true, usages.propose);
    const proposal = await createProposal(services.pool, tenant, {
      runId,
      requester,
      orphans,
      ttlSeconds: services.config.sanitize.proposalTtlSeconds,
      graceSeconds: services.config.sanitize.quarantineGraceSeconds,
    });
    if (options.out) await writeFile(options.out, proposal.content, { mode: 0o600 });

    console.log('Dry run: nothing has changed. Two other people must approve this digest before it can run.');
    console.log(formatProposal(proposal));
    return 0;
  });
}

async function show(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, proposal: { type: 'string' }, out: { type: 'string' } }, usages.show);
  const code = required(options.tenant, 'tenant', usages.show);
  const proposalId = required(options.proposal, 'proposal', usages.show);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const proposal = await getProposal(services.pool, tenant, proposalId);
    if (options.out) await writeFile(options.out, proposal.content, { mode: 0o600 });
    console.log(formatProposal(proposal));
    return 0;
  });
}

async function approve(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, proposal: { type: 'string' }, digest: { type: 'string' }, 'token-stdin': { type: 'boolean' } },
    usages.approve,
  );
  const code = required(options.tenant, 'tenant', usages.approve);
  const proposalId = required(options.proposal, 'proposal', usages.approve);
  const digest = required(options.digest, 'digest', usages.approve);
  if (!/^[0-9a-fA-F]{64}$/.test(digest)) throw new UsageError('--digest must be the 64 hex digits `strata sanitize show` prints', usages.approve);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const approver = await authenticateAdmin(services, tenant, options['token-stdin'] === true, usages.approve);
    const proposal = await approveProposal(services.pool, tenant, { proposalId, digest, approver });
    console.log(`approved by ${approver.person}`);
    console.log(formatProposal(proposal));
    return 0;
  });
}

async function execute(argv: string[]): Promise<number> {
  const options = parseCommand(
    argv,
    { tenant: { type: 'string' }, proposal: { type: 'string' }, wait: { type: 'boolean' }, timeout: { type: 'string' }, 'token-stdin': { type: 'boolean' } },
    usages.execute,
  );
  const code = required(options.tenant, 'tenant', usages.execute);
  const proposalId = required(options.proposal, 'proposal', usages.execute);
  const timeoutSeconds = positiveInt(options.timeout, 'timeout', usages.execute, 3600);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const startedBy = await authenticateAdmin(services, tenant, options['token-stdin'] === true, usages.execute);
    const started = await startExecution(services.pool, tenant, {
      proposalId,
      startedBy,
      validTokens: (ids) => activeAdminTokens(services.pool, tenant.id, ids),
    });
    await withQueue(services, (queue) => queue.remediation({ tenantId: tenant.id, proposalId, phase: 'execute' }));
    console.log(`proposal ${proposalId} queued for execution (approved by ${started.approvers.join(', ')})`);

    if (options.wait) {
      await waitFor(timeoutSeconds, `proposal ${proposalId}`, async () => (await getProposal(services.pool, tenant, proposalId)).status === 'EXECUTED');
      console.log(formatProposal(await getProposal(services.pool, tenant, proposalId)));
    }
    return 0;
  });
}

async function purge(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, proposal: { type: 'string' } }, usages.purge);
  const code = required(options.tenant, 'tenant', usages.purge);
  const proposalId = required(options.proposal, 'proposal', usages.purge);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const proposal = await getProposal(services.pool, tenant, proposalId);
    if (proposal.status !== 'EXECUTED') {
      throw StrataError.conflict('PROPOSAL_NOT_EXECUTED', `proposal ${proposalId} is ${proposal.status}; only an executed proposal's quarantine is purged`);
    }
    await withQueue(services, (queue) => queue.remediation({ tenantId: tenant.id, proposalId, phase: 'purge' }));
    console.log(`purge of proposal ${proposalId}'s quarantined orphans queued; those still in their grace period are kept`);
    return 0;
  });
}

function durationOption(text: string, name: string, help: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds < 1 || seconds > MAX_AGE_SECONDS) {
    throw new UsageError(`--${name} must be from 1s to 200y, written like 365d, 12w, 36h or 2y; got "${text}"`, help);
  }
  return seconds;
}

/** Send jobs through a short-lived pg-boss on DATABASE_URL. */
async function withQueue(services: Services, send: (queue: SanitizeQueue) => Promise<unknown>): Promise<void> {
  const boss = await startBoss(requireDatabaseUrl(services.config), services.log, { max: 2 });
  try {
    await send(new SanitizeQueue(boss));
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
}

async function waitFor(timeoutSeconds: number, what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (!(await done())) {
    if (Date.now() > deadline) {
      throw new StrataError('TIMED_OUT', `${what} did not finish within ${timeoutSeconds} s; check that \`strata worker\` is running, then look again`, 504);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
