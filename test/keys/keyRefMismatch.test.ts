import { expect } from 'chai';
import { findTenantByCode } from '../../src/control/tenants.ts';
import { deleteTenant } from '../../src/tenancy/deleteTenant.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('a tenant key kept by another provider', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('key_ref_mismatch', { api: false, workers: false });
    await createTenant(stack, 'elsewhere');
    // As if the tenant had been onboarded by a process using Vault.
    await stack.services.pool.query("UPDATE control.tenant SET key_ref = 'vault:transit/keys/elsewhere' WHERE code = 'elsewhere'");
  });
  after(async () => stack?.close());

  it('stops deletion before anything is dropped', async () => {
    const tenant = (await findTenantByCode(stack.services.pool, 'elsewhere'))!;

    const failure = await deleteTenant(stack.services, tenant, 'test:operator').catch((error: unknown) => error as { code?: string });

    expect(failure).to.have.property('code', 'KEY_REF_MISMATCH');
    const { rows } = await stack.services.pool.query("SELECT to_regnamespace('t_elsewhere') IS NOT NULL AS schema, (SELECT count(*)::int FROM control.tenant WHERE code = 'elsewhere') AS tenants");
    expect(rows[0]).to.deep.equal({ schema: true, tenants: 1 });
  });

  it('refuses to unwrap its data key', async () => {
    const tenant = (await findTenantByCode(stack.services.pool, 'elsewhere'))!;

    const failure = await stack.services.deks.withDek(tenant, () => 'opened').catch((error: unknown) => error as { code?: string });

    expect(failure).to.have.property('code', 'KEY_REF_MISMATCH');
  });
});
