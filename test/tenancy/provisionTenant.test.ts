import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Migration } from '@mikro-orm/migrations';
import { provisionTenant } from '../../src/tenancy/provisionTenant.ts';
import { TENANT_MIGRATIONS, TENANT_TEMPLATE_VERSION } from '../../tenant-template/index.ts';
import { InvalidTenantCodeError, StrataError } from '../../src/errors.ts';
import { hashToken } from '../../src/control/tokens.ts';
import { startStack, type Stack } from '../support/stack.ts';

class FailingMigration extends Migration {
  override async up(): Promise<void> {
    this.addSql('SELECT 1 / 0');
  }
}

describe('provisionTenant', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('provision', { api: false, workers: false });
  });
  after(async () => stack?.close());

  async function schemaExists(name: string): Promise<boolean> {
    const { rows } = await stack.services.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
    return rows.length === 1;
  }

  async function count(sql: string, params: unknown[] = []): Promise<number> {
    const { rows } = await stack.services.pool.query<{ n: number }>(sql, params);
    return rows[0]!.n;
  }

  it('creates schema, registry row, hashed token and key', async () => {
    const tenant = await provisionTenant(stack.services, { code: 'acme', name: 'Acme Corp' });

    expect(tenant.schemaName).to.equal('t_acme');
    expect(tenant.schemaVersion).to.equal(TENANT_TEMPLATE_VERSION);
    expect(tenant.agentToken).to.match(/^strata_[A-Za-z0-9_-]{43}$/);
    expect(await schemaExists('t_acme')).to.equal(true);
    expect(await count("SELECT count(*) AS n FROM control.tenant WHERE code = 'acme'")).to.equal(1);
    expect(await count('SELECT count(*) AS n FROM control.api_token WHERE token_sha256 = $1', [hashToken(tenant.agentToken)])).to.equal(1);
    expect(existsSync(path.join(stack.keyringDir, `${tenant.id}.key`))).to.equal(true);
  });

  it('never stores the plaintext token', async () => {
    const tenant = await provisionTenant(stack.services, { code: 'plain', name: 'Plain' });
    const { rows } = await stack.services.pool.query("SELECT to_jsonb(k)::text AS row FROM control.api_token k");
    for (const row of rows) expect(row.row).not.to.contain(tenant.agentToken.slice(7));
  });

  it('leaves nothing behind when a migration fails', async () => {
    const migrations = [...TENANT_MIGRATIONS, { name: 'T9999_fails', class: FailingMigration }];
    const keysBefore = await count('SELECT count(*) AS n FROM control.tenant');

    let failure: unknown;
    try {
      await provisionTenant({ ...stack.services, migrations }, { code: 'broken', name: 'Broken' });
    } catch (error) {
      failure = error;
    }

    expect(failure, 'provisioning should fail').to.be.instanceOf(Error);
    expect(await schemaExists('t_broken')).to.equal(false);
    expect(await count("SELECT count(*) AS n FROM control.tenant WHERE code = 'broken'")).to.equal(0);
    expect(await count('SELECT count(*) AS n FROM control.tenant')).to.equal(keysBefore);
    expect(await count('SELECT count(*) AS n FROM control.api_token t LEFT JOIN control.tenant c ON c.id = t.tenant_id WHERE c.id IS NULL')).to.equal(0);
    const { readdir } = await import('node:fs/promises');
    const keyFiles = await readdir(stack.keyringDir);
    expect(keyFiles.length).to.equal(await count('SELECT count(*) AS n FROM control.tenant'));
  });

  it('rejects a taken code with a conflict', async () => {
    await provisionTenant(stack.services, { code: 'twice', name: 'First' });
    let failure: unknown;
    try {
      await provisionTenant(stack.services, { code: 'twice', name: 'Second' });
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(StrataError);
    expect((failure as StrataError).status).to.equal(409);
    expect(await count("SELECT count(*) AS n FROM control.tenant WHERE code = 'twice'")).to.equal(1);
  });

  for (const code of ['A', 'acme-corp', '1acme', 'x', 'a"; drop schema control; --', 'a'.repeat(32), 'Acme']) {
    it(`rejects invalid code ${JSON.stringify(code)}`, async () => {
      let failure: unknown;
      try {
        await provisionTenant(stack.services, { code, name: 'Invalid' });
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(InvalidTenantCodeError);
      expect((failure as Error).message).to.contain('lowercase letter first');
    });
  }
});
