import { expect } from 'chai';
import { runStrata } from '../support/cli.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('strata migrate', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('cli_migrate', { api: false, workers: false });
    for (const code of ['alpha', 'bravo']) await createTenant(stack, code);
  });
  after(async () => stack?.close());

  it('help lists every option', async () => {
    const result = await runStrata(stack, ['migrate', '--help']);

    expect(result.code).to.equal(0);
    for (const option of ['--tenants', '--canary', '--concurrency', '--dry-run', '--resume', '--run', '--check', '--progress']) {
      expect(result.stdout, option).to.contain(option);
    }
  });

  it('prints one line per tenant in the order given', async () => {
    const result = await runStrata(stack, ['migrate', '--tenants', 'bravo,alpha', '--concurrency', '1', '--progress', 'lines']);

    expect(result.code, result.stderr).to.equal(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).to.equal('control: up to date');
    expect(lines[1]).to.match(/^run [0-9a-f-]{36}: 2 tenant schemas$/);
    expect(lines.slice(2, 4)).to.deep.equal(['[1/2 t_bravo] up to date', '[2/2 t_alpha] up to date']);
    expect(lines[4]).to.match(/^tenants: 2 ok, 0 failed; run [0-9a-f-]{36} DONE$/);
  });

  it('check exits 1 and lists drift', async () => {
    expect((await runStrata(stack, ['migrate', '--check', '--progress', 'quiet'])).code).to.equal(0);
    await stack.services.pool.query('ALTER TABLE t_bravo.scan NO FORCE ROW LEVEL SECURITY');

    const result = await runStrata(stack, ['migrate', '--check', '--progress', 'quiet']);

    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/\[\d\/2 t_bravo\] 1 difference\(s\):\n {4}changed relation scan: template has table, owner strata_owner, rls on, force rls on; tenant has table, owner strata_owner, rls on, force rls off/);
    expect(result.stdout).not.to.contain('t_alpha');
    expect(result.stdout).to.contain('check: 1 of 2 tenant schemas match the template, 1 differ, 0 could not be read');
    await stack.services.pool.query('ALTER TABLE t_bravo.scan FORCE ROW LEVEL SECURITY');
  });

  it('rejects conflicting options and unknown tenants', async () => {
    const conflicting = await runStrata(stack, ['migrate', '--resume', '--tenants', 'alpha']);
    expect(conflicting.code).to.equal(2);
    expect(conflicting.stderr).to.contain('leave out --tenants and --canary');

    const unknown = await runStrata(stack, ['migrate', '--tenants', 'alpha,zulu']);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain('unknown tenant code(s): zulu');
  });

  it('resume of a finished run says so', async () => {
    const result = await runStrata(stack, ['migrate', '--resume']);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/migration run [0-9a-f-]{36} ended DONE at .*; nothing to resume/);
  });
});
