import { expect } from 'chai';
import { issueToken } from '../../src/control/tokens.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, scanRequest } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('API authentication', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('auth');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function tokenWith(options: { expiresAt?: Date | null; scopes?: ('upload' | 'report')[] }): Promise<string> {
    const client = await stack.services.pool.connect();
    try {
      const issued = await issueToken(client, tenant.id, 'test', options.scopes ?? ['upload'], options.expiresAt ?? null);
      return issued.token;
    } finally {
      client.release();
    }
  }

  async function openWith(token: string | undefined): Promise<number> {
    const result = await call(stack.api!.url, 'POST', '/v1/scans', { token, json: scanRequest() });
    return result.status;
  }

  it('accepts the agent token', async () => {
    expect(await openWith(tenant.agentToken)).to.equal(201);
  });

  it('rejects a missing token with 401', async () => {
    expect(await openWith(undefined)).to.equal(401);
  });

  it('rejects an unknown token with 401', async () => {
    expect(await openWith('strata_' + 'A'.repeat(43))).to.equal(401);
  });

  it('rejects an expired token with 401', async () => {
    expect(await openWith(await tokenWith({ expiresAt: new Date(Date.now() - 1000) }))).to.equal(401);
  });

  it('rejects a revoked token with 401', async () => {
    const token = await tokenWith({});
    await stack.services.pool.query("UPDATE control.api_token SET revoked_at = now() WHERE name = 'test' AND revoked_at IS NULL");
    expect(await openWith(token)).to.equal(401);
  });

  it('rejects a token without the upload scope with 403', async () => {
    expect(await openWith(await tokenWith({ scopes: ['report'] }))).to.equal(403);
  });

  it("rejects a suspended tenant's token with 403", async () => {
    const other = await createTenant(stack, 'paused');
    await stack.services.pool.query("UPDATE control.tenant SET status = 'SUSPENDED' WHERE code = 'paused'");
    expect(await openWith(other.agentToken)).to.equal(403);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const result = await call(stack.api!.url, 'GET', '/v1/nothing', { token: tenant.agentToken });
    expect(result.status).to.equal(404);
    expect(result.body.error.code).to.equal('NOT_FOUND');
  });

  it('answers a wrong method with a JSON 405', async () => {
    const result = await call(stack.api!.url, 'DELETE', '/v1/scans/00000000-0000-4000-8000-000000000001', { token: tenant.agentToken });
    expect(result.status).to.equal(405);
    expect(result.body.error.code).to.equal('METHOD_NOT_ALLOWED');
  });

  it('rejects a missing field naming it', async () => {
    const { shareName: _omitted, ...request } = scanRequest();
    const result = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: request });
    expect(result.status).to.equal(400);
    expect(result.body.error.message).to.equal('scan: shareName is required');
  });

  it('rejects a NUL or a lone surrogate in JSON text', async () => {
    for (const rootPath of ['D:\\a\u0000b', 'D:\\\ud800']) {
      const result = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ rootPath }) });
      expect(result.status, rootPath).to.equal(400);
      expect(result.body.error.code).to.equal('INVALID_TEXT');
    }
  });

  it('rejects deeply nested JSON', async () => {
    const body = '['.repeat(30_000) + ']'.repeat(30_000);
    const result = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, body, headers: { 'content-type': 'application/json' } });

    expect(result.status).to.equal(400);
    expect(result.body.error.code).to.equal('INVALID_JSON');
  });

  it('accepts Unicode share names SMB allows', async () => {
    for (const shareName of ['Données', 'Finance (Old)', 'C$']) {
      const result = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName }) });
      expect(result.status, shareName).to.equal(201);
    }
  });

  it('rejects an invalid scan body naming the field', async () => {
    const result = await call(stack.api!.url, 'POST', '/v1/scans', {
      token: tenant.agentToken,
      json: { ...scanRequest(), startedAt: 'yesterday' },
    });
    expect(result.status).to.equal(400);
    expect(result.body.error.message).to.contain('startedAt');
  });

  it('serves health, readiness and metrics', async () => {
    expect((await call(stack.api!.url, 'GET', '/healthz')).status).to.equal(200);
    expect((await call(stack.api!.url, 'GET', '/readyz')).body.database).to.equal('ok');
    const metrics = await call(stack.api!.url, 'GET', '/metrics');
    expect(metrics.body).to.contain('strata_http_requests_total');
  });
});
