import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { hasScriptCommand, runStrata } from '../support/cli.ts';
import { call, scanRequest } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('strata tenant suspend, resume and delete', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cli_lifecycle', { workers: false });
    acme = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function openScanWith(token: string): Promise<{ status: number; code?: string }> {
    const result = await call(stack.api!.url, 'POST', '/v1/scans', { token, json: scanRequest() });
    return { status: result.status, code: result.body?.error?.code };
  }

  async function auditActions(code: string): Promise<string[]> {
    const { rows } = await stack.services.pool.query('SELECT action FROM control.audit_event WHERE tenant_code = $1 ORDER BY event_id', [code]);
    return rows.map((row) => row.action);
  }

  async function tenantExists(code: string): Promise<{ registered: boolean; schema: boolean }> {
    const { rows } = await stack.services.pool.query(
      `SELECT EXISTS (SELECT 1 FROM control.tenant WHERE code = $1) AS registered,
              EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 't_' || $1) AS schema`,
      [code],
    );
    return rows[0];
  }

  it('suspend refuses tokens with 403 TENANT_SUSPENDED', async () => {
    const result = await runStrata(stack, ['tenant', 'suspend', '--tenant', 'acme', '--reason', 'invoice overdue']);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('tenant acme is now suspended');
    expect(await openScanWith(acme.agentToken)).to.deep.equal({ status: 403, code: 'TENANT_SUSPENDED' });

    const list = await runStrata(stack, ['tenant', 'list']);
    expect(list.stdout).to.match(/^acme\s.*\sSUSPENDED\s/m);
  });

  it('resume accepts the tokens again', async () => {
    const result = await runStrata(stack, ['tenant', 'resume', '--tenant', 'acme']);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('tenant acme is now active');
    expect((await openScanWith(acme.agentToken)).status).to.equal(201);
    expect(await auditActions('acme')).to.deep.equal(['tenant.suspended', 'tenant.resumed']);

    const { rows } = await stack.services.pool.query("SELECT details FROM control.audit_event WHERE action = 'tenant.suspended'");
    expect(rows[0].details).to.deep.equal({ reason: 'invoice overdue' });
  });

  it('delete without a terminal needs --yes', async () => {
    const result = await runStrata(stack, ['tenant', 'delete', '--tenant', 'acme'], { input: 'acme\n' });

    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain('tenant acme not deleted: there is no terminal to ask for confirmation on; pass --yes to confirm');
    expect(await tenantExists('acme')).to.deep.equal({ registered: true, schema: true });
  });

  it('delete keeps the tenant when the typed code differs', async function () {
    if (!hasScriptCommand()) this.skip();
    const result = await runStrata(stack, ['tenant', 'delete', '--tenant', 'acme'], { terminal: true, input: 'acne\n' });

    expect(result.code, result.stdout).to.equal(1);
    expect(result.stdout).to.contain('Type the tenant code (acme) to confirm:');
    expect(result.stdout).to.contain('tenant acme was not deleted');
    expect(await tenantExists('acme')).to.deep.equal({ registered: true, schema: true });
    expect((await openScanWith(acme.agentToken)).status).to.equal(201);
  });

  it('delete after typing the code removes everything', async function () {
    if (!hasScriptCommand()) this.skip();
    const keyFile = path.join(stack.keyringDir, `${acme.id}.key`);
    expect(existsSync(keyFile)).to.equal(true);

    const result = await runStrata(stack, ['tenant', 'delete', '--tenant', 'acme'], { terminal: true, input: 'acme\n' });

    expect(result.code, result.stdout).to.equal(0);
    expect(result.stdout).to.contain('tenant acme deleted: schema t_acme dropped, 1 token(s) revoked');
    expect(await tenantExists('acme')).to.deep.equal({ registered: false, schema: false });
    expect(existsSync(keyFile)).to.equal(false);
    expect(await openScanWith(acme.agentToken)).to.deep.equal({ status: 401, code: 'UNAUTHORIZED' });
    expect(await auditActions('acme')).to.deep.equal(['tenant.suspended', 'tenant.resumed', 'tenant.deleted', 'tenant.key_destroyed']);
  });

  it('delete --yes works without a terminal', async () => {
    const globex = await createTenant(stack, 'globex');
    const result = await runStrata(stack, ['tenant', 'delete', '--tenant', 'globex', '--yes']);

    expect(result.code, result.stderr).to.equal(0);
    expect(await tenantExists('globex')).to.deep.equal({ registered: false, schema: false });
    expect((await openScanWith(globex.agentToken)).status).to.equal(401);

    const { rows } = await stack.services.pool.query("SELECT actor, tenant_id, details FROM control.audit_event WHERE action = 'tenant.deleted' AND tenant_code = 'globex'");
    expect(rows[0].tenant_id).to.equal(globex.id);
    expect(rows[0].actor).to.match(/^cli:.+@.+$/);
    expect(rows[0].details).to.include({ schemaName: 't_globex', tokensRevoked: 1 });
  });

  it('audit records cannot be changed', async () => {
    let failure: unknown;
    try {
      await stack.services.pool.query('DELETE FROM control.audit_event');
    } catch (error) {
      failure = error;
    }
    expect((failure as { code?: string }).code).to.equal('42501');
    expect((await auditActions('globex')).length).to.equal(2);
  });
});
