import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { ingestShare } from '../support/acting.ts';
import { runStrata } from '../support/cli.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const DAY = 86_400;
const YEAR = 365 * DAY;

describe('strata policy and strata plan', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  const now = Math.floor(Date.now() / 1000);

  async function strata(...args: string[]) {
    const result = await runStrata(stack, args);
    expect(result.code, result.stderr).to.equal(0);
    return result.stdout;
  }

  async function planned(): Promise<string[]> {
    const { rows } = await stack.services.pool.query("SELECT name FROM t_acme.tier_object WHERE state = 'PLANNED' ORDER BY name");
    return rows.map((row) => row.name);
  }

  async function auditActions(): Promise<string[]> {
    const { rows } = await stack.services.pool.query("SELECT action FROM t_acme.audit_log WHERE action !~ '^scan\\.' ORDER BY audit_id");
    return rows.map((row) => row.action);
  }

  before(async () => {
    stack = await startStack('policy_cli');
    acme = await createTenant(stack, 'acme');
    await ingestShare(stack, acme, 'finance', [
      { dir: 'D:\\Finance\\2019', name: 'ledger.xlsx', size: 5000, atime: now - 3 * YEAR - 2 * DAY },
      { dir: 'D:\\Finance\\2019', name: 'mail.PST', size: 90_000, atime: now - 3 * YEAR - DAY },
      { dir: 'D:\\Finance\\2020', name: 'tiny.txt', size: 10, atime: now - 3 * YEAR },
      { dir: 'D:\\Finance\\2021', name: 'report.pdf', size: 7000, atime: now - 2 * YEAR },
      { dir: 'D:\\Finance\\2021', name: 'touched.pdf', size: 7000, atime: now - 2 * YEAR, mtime: now - DAY },
      { dir: 'D:\\Finance\\2025', name: 'fresh.xlsx', size: 3000, atime: now - DAY },
    ]);
  });
  after(async () => stack?.close());

  it('prints help for each action', async () => {
    for (const args of [['policy', '--help'], ['policy', 'set', '--help'], ['policy', 'exclude', '--help'], ['act', '--help'], ['plan', '--help']]) {
      const output = await strata(...args);
      expect(output, args.join(' ')).to.match(/^Usage: strata/);
    }
  });

  it('skips a share without a policy', async () => {
    const output = await strata('plan', '--tenant', 'acme');
    expect(output).to.contain('share finance: skipped, no policy');
  });

  it('stores, lists and audits a policy', async () => {
    await strata('policy', 'set', '--tenant', 'acme', '--share', 'finance', '--older-than', '1y', '--min-size', '1K', '--exclude', '**/*.pst');
    await strata('policy', 'exclude', '--tenant', 'acme', '--pattern', 'D:/Finance/2019/ledger.xlsx', '--reason', 'audit hold');

    const output = await strata('policy', 'list', '--tenant', 'acme');
    expect(output).to.match(/finance +365d +auto +1\.0 KiB/);
    expect(output).to.contain('**/*.pst');
    expect(output).to.match(/\(every share\) +D:\/Finance\/2019\/ledger\.xlsx +audit hold/);
    expect(await auditActions()).to.deep.equal(['policy.set', 'exclusion.added']);
  });

  it('writes nothing in a dry run', async () => {
    const output = await strata('plan', '--tenant', 'acme');
    expect(output).to.contain('dry run');
    expect(output).to.match(/would be planned now: 1 files/);
    expect(output).to.contain('D:\\Finance\\2021');
    expect(await planned()).to.deep.equal([]);
    expect(await auditActions()).to.deep.equal(['policy.set', 'exclusion.added']);
  });

  it('writes the plan with --apply', async () => {
    const output = await strata('plan', '--tenant', 'acme', '--apply');
    expect(output).to.contain('Plan applied');
    // ledger.xlsx is on the exclusion list, mail.PST matches the exclude glob without
    // regard to case, tiny.txt is under the minimum size, touched.pdf was modified
    // yesterday and fresh.xlsx was read yesterday.
    expect(await planned()).to.deep.equal(['report.pdf']);
    expect((await auditActions()).at(-1)).to.equal('plan.applied');
  });

  it('keeps the least recently used files within the limits', async () => {
    await strata('policy', 'unexclude', '--tenant', 'acme', '--pattern', 'D:/Finance/2019/ledger.xlsx');
    await strata('policy', 'set', '--tenant', 'acme', '--share', 'finance', '--older-than', '1y');

    const byFiles = await strata('plan', '--tenant', 'acme', '--max-files', '2', '--apply');
    expect(await planned()).to.deep.equal(['ledger.xlsx', 'mail.PST']);
    expect(byFiles).to.match(/over limit: +2 more files/);

    // The limit keeps a prefix of the oldest files: mail.PST would exceed it, so nothing after it is planned.
    await strata('plan', '--tenant', 'acme', '--max-bytes', '12000', '--apply');
    expect(await planned()).to.deep.equal(['ledger.xlsx']);
  });

  it('plans by one time when the policy says so', async () => {
    await strata('policy', 'set', '--tenant', 'acme', '--share', 'finance', '--older-than', '1y', '--basis', 'access', '--include', '**/*.pdf');
    await strata('plan', '--tenant', 'acme', '--apply');
    expect(await planned()).to.deep.equal(['report.pdf', 'touched.pdf']);
  });

  it('uses the tenant default policy', async () => {
    await strata('policy', 'remove', '--tenant', 'acme', '--share', 'finance');
    await strata('policy', 'set', '--tenant', 'acme', '--share', '*', '--older-than', '2y', '--min-size', '8000');
    const output = await strata('plan', '--tenant', 'acme', '--apply');
    expect(output).to.contain('(default policy)');
    expect(await planned()).to.deep.equal(['mail.PST']);
  });

  it('rejects bad options by name', async () => {
    const basis = await runStrata(stack, ['policy', 'set', '--tenant', 'acme', '--share', 'x', '--older-than', '1y', '--basis', 'ctime']);
    expect(basis.code).to.equal(2);
    expect(basis.stderr).to.contain('--basis must be one of');

    const size = await runStrata(stack, ['plan', '--tenant', 'acme', '--max-bytes', 'lots']);
    expect(size.code).to.equal(2);
    expect(size.stderr).to.contain('--max-bytes must be');

    const missing = await runStrata(stack, ['policy', 'remove', '--tenant', 'acme', '--share', 'nope']);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain('not found');
  });
});
