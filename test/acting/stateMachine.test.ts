import { expect } from 'chai';
import { Roles } from '../../src/db/roles.ts';
import { SqlState } from '../../src/db/sqlstate.ts';
import { withTenant } from '../../src/db/tenantContext.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { ingestShare } from '../support/acting.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const YEAR = 365 * 86_400;

/** Return the SQLSTATE of a statement's error, or undefined when it succeeds. */
async function sqlStateOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe('tier object state machine', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  let globex: ProvisionedTenant;
  const old = Math.floor(Date.now() / 1000) - 2 * YEAR;

  async function setState(name: string, state: string): Promise<void> {
    await stack.services.pool.query('UPDATE t_acme.tier_object SET state = $2 WHERE name = $1', [name, state]);
  }

  before(async () => {
    stack = await startStack('statemachine', { workers: true });
    acme = await createTenant(stack, 'acme');
    globex = await createTenant(stack, 'globex');
    await ingestShare(stack, acme, 'docs', [
      { dir: 'D:\\Docs', name: 'one.txt', size: 1, atime: old },
      { dir: 'D:\\Docs', name: 'two.txt', size: 2, atime: old },
    ]);
    await planColdFiles(stack.services.pool, acme, { share: 'docs', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
  });
  after(async () => stack?.close());

  it('rejects a skipped state in PostgreSQL', async () => {
    const code = await sqlStateOf(setState('one.txt', 'STUBBED'));
    expect(code).to.equal(SqlState.checkViolation);
  });

  it('rejects an unknown state', async () => {
    expect(await sqlStateOf(setState('one.txt', 'BOGUS'))).to.equal(SqlState.checkViolation);
  });

  it('allows the documented path', async () => {
    for (const state of ['IN_PROGRESS', 'STUBBED', 'RECALLING', 'REHYDRATED', 'PLANNED', 'IN_PROGRESS', 'FAILED', 'PLANNED']) {
      await setState('one.txt', state);
    }
    const { rows } = await stack.services.pool.query("SELECT state FROM t_acme.tier_object WHERE name = 'one.txt'");
    expect(rows[0].state).to.equal('PLANNED');
  });

  it('rejects a whole statement with one bad row', async () => {
    await setState('two.txt', 'IN_PROGRESS');
    // IN_PROGRESS -> STUBBED is legal for two.txt, PLANNED -> STUBBED is not for one.txt.
    const code = await sqlStateOf(stack.services.pool.query("UPDATE t_acme.tier_object SET state = 'STUBBED'"));
    expect(code).to.equal(SqlState.checkViolation);
    const { rows } = await stack.services.pool.query('SELECT name, state FROM t_acme.tier_object ORDER BY name');
    expect(rows).to.deep.equal([
      { name: 'one.txt', state: 'PLANNED' },
      { name: 'two.txt', state: 'IN_PROGRESS' },
    ]);
  });

  it('rejects inserting a row past PLANNED', async () => {
    const code = await sqlStateOf(
      stack.services.pool.query(
        `INSERT INTO t_acme.tier_object (tenant_id, share_name, scan_id, dir_hash, name, full_path, size_bytes, atime_unix, mtime_unix, planned_by, state)
         VALUES ($1, 'docs', 1, 1, 'x', 'D:\\x', 1, 1, 1, 'test', 'STUBBED')`,
        [acme.id],
      ),
    );
    expect(code).to.equal(SqlState.checkViolation);
  });

  it('rejects deleting a leased row', async () => {
    const code = await sqlStateOf(stack.services.pool.query("DELETE FROM t_acme.tier_object WHERE name = 'two.txt'"));
    expect(code).to.equal(SqlState.checkViolation);
  });

  it('moves no row of another tenant', async () => {
    const code = await sqlStateOf(
      withTenant(stack.services.pool, globex, Roles.planner, (client) =>
        client.query("UPDATE t_acme.tier_object SET state = 'IN_PROGRESS' WHERE name = 'one.txt'"),
      ),
    );
    const { rows } = await stack.services.pool.query("SELECT state FROM t_acme.tier_object WHERE name = 'one.txt'");
    expect(code).to.equal(undefined);
    expect(rows[0].state, 'RLS hides the row, so nothing moved').to.equal('PLANNED');
  });

  it('hides the acting tables from another tenant', async () => {
    await stack.services.pool.query("INSERT INTO t_acme.tier_policy (tenant_id, share_name, min_age_seconds, updated_by) VALUES ($1, 'docs', 100, 'test')", [acme.id]);
    await stack.services.pool.query("INSERT INTO t_acme.tier_exclusion (tenant_id, pattern, added_by) VALUES ($1, '**/*.pst', 'test')", [acme.id]);
    await stack.services.pool.query("INSERT INTO t_acme.share_acting (tenant_id, share_name) VALUES ($1, 'docs')", [acme.id]);
    await stack.services.pool.query(
      "INSERT INTO t_acme.tier_result_log (tenant_id, tier_id, share_name, fence, kind, outcome, token_id) VALUES ($1, 1, 'docs', 1, 'tier', 'FAILED', 't')",
      [acme.id],
    );

    const tables = ['tier_state', 'tier_transition', 'tier_result_log', 'share_acting', 'tier_policy', 'tier_exclusion', 'tier_object'];
    for (const role of [Roles.actor, Roles.sanitizer]) {
      const counts = await withTenant(stack.services.pool, globex, role, async (client) => {
        const seen: Record<string, number> = {};
        for (const table of tables) {
          seen[table] = (await client.query(`SELECT count(*)::int AS n FROM t_acme.${table}`)).rows[0].n;
        }
        return seen;
      });
      expect(counts, role).to.deep.equal(Object.fromEntries(tables.map((table) => [table, 0])));
    }

    const own = await withTenant(stack.services.pool, acme, Roles.actor, (client) => client.query('SELECT count(*)::int AS n FROM tier_result_log'));
    expect(own.rows[0].n).to.equal(1);
  });
});
