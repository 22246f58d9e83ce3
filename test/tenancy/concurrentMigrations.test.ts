import { expect } from 'chai';
import { checkTenantDrift } from '../../src/tenancy/checkTenantDrift.ts';
import { migrateTenants } from '../../src/tenancy/migrateTenants.ts';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { TENANT_MIGRATIONS, TENANT_TEMPLATE_VERSION } from '../../tenant-template/index.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

/**
 * Two tenant schemas migrated at once, by two runners each, over one pool while a third
 * tenant is created on the same pool.
 */
describe('concurrent tenant migrations on one pool', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('concurrent_migrations', { api: false, workers: false });
    for (const code of ['one', 'two']) {
      await provisionTenant({ ...stack.services, migrations: TENANT_MIGRATIONS.slice(0, 1) }, { code, name: code });
    }
  });
  after(async () => stack?.close());

  async function publicObjects(): Promise<number> {
    const { rows } = await stack.services.pool.query(
      `SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace)
            + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)
            + (SELECT count(*) FROM pg_type WHERE typnamespace = 'public'::regnamespace) AS n`,
    );
    return Number(rows[0].n);
  }

  it('applies each migration once per schema', async () => {
    const publicBefore = await publicObjects();
    const migrate = (tenants: string[]) =>
      migrateTenants(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 2, tenants });

    const [first, second] = await Promise.all([migrate(['one', 'two']), migrate(['two', 'one']), createTenant(stack, 'three')]);

    expect(first.failed + second.failed).to.equal(0);
    for (const schema of ['t_one', 't_two', 't_three']) {
      const { rows } = await stack.services.pool.query(`SELECT name, count(*)::int AS n FROM ${schema}.mikro_orm_migrations GROUP BY name ORDER BY name`);
      expect(rows, schema).to.deep.equal(TENANT_MIGRATIONS.map((entry) => ({ name: entry.name, n: 1 })));
    }

    const versions = await stack.services.pool.query('SELECT code, schema_version FROM control.tenant ORDER BY code');
    expect(versions.rows).to.deep.equal([
      { code: 'one', schema_version: TENANT_TEMPLATE_VERSION },
      { code: 'three', schema_version: TENANT_TEMPLATE_VERSION },
      { code: 'two', schema_version: TENANT_TEMPLATE_VERSION },
    ]);
    expect(await publicObjects()).to.equal(publicBefore);
  });

  it('leaves no tenant context on pooled connections', async () => {
    const pool = stack.services.pool;
    // Checking out the pool's maximum number of connections returns every one it made.
    const clients = await Promise.all(Array.from({ length: pool.options.max }, () => pool.connect()));
    try {
      for (const client of clients) {
        // Inside a transaction block now() is the block's start, so it differs from the statement's time.
        const { rows } = await client.query(
          `SELECT current_setting('search_path') AS search_path,
                  coalesce(current_setting('app.tenant_id', true), '') AS tenant_id,
                  current_user = session_user AS own_role,
                  now() = statement_timestamp() AS no_open_transaction`,
        );
        expect(rows[0]).to.deep.equal({ search_path: '"$user", public', tenant_id: '', own_role: true, no_open_transaction: true });
      }
    } finally {
      for (const client of clients) client.release();
    }
  });

  it('leaves all three schemas equal to the template', async () => {
    const report = await checkTenantDrift(stack.services.pool, stack.services.orm, stack.services.log, { concurrency: 3 });
    expect(report.outcomes.map((outcome) => `${outcome.code}: ${outcome.differences.length}`).sort()).to.deep.equal(['one: 0', 'three: 0', 'two: 0']);
  });
});
