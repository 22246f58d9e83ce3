import { expect } from 'chai';
import { hashToken } from '../../src/control/tokens.ts';
import { runStrata, tokenIn } from '../support/cli.ts';
import { call, scanRequest } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('strata token', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack('cli_token', { workers: false });
    await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function openScanWith(token: string): Promise<{ status: number; code?: string }> {
    const result = await call(stack.api!.url, 'POST', '/v1/scans', { token, json: scanRequest() });
    return { status: result.status, code: result.body?.error?.code };
  }

  function idOf(output: string): string {
    return /^token ([0-9a-f-]{36}) /m.exec(output)![1]!;
  }

  let uploadToken: string;
  let uploadTokenId: string;

  it('create prints a working token once', async () => {
    const result = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', 'site-2 agent', '--scopes', 'upload,act', '--expires', '30d']);

    expect(result.code, result.stderr).to.equal(0);
    uploadToken = tokenIn(result.stdout);
    uploadTokenId = idOf(result.stdout);
    expect(result.stdout).to.match(/scopes upload,act; expires \d{4}-\d\d-\d\dT/);
    expect((await openScanWith(uploadToken)).status).to.equal(201);

    const { rows } = await stack.services.pool.query('SELECT scopes, expires_at > now() + interval \'29 days\' AS later FROM control.api_token WHERE token_sha256 = $1', [
      hashToken(uploadToken),
    ]);
    expect(rows).to.deep.equal([{ scopes: ['upload', 'act'], later: true }]);
  });

  it('list shows tokens without secrets', async () => {
    const result = await runStrata(stack, ['token', 'list', '--tenant', 'acme']);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^id\s+name\s+person\s+scopes\s+state\s+created\s+expires\s+last used$/m);
    expect(result.stdout).to.contain(uploadTokenId);
    expect(result.stdout).to.match(new RegExp(`${uploadTokenId}\\s+site-2 agent\\s+-\\s+upload,act\\s+active`));
    expect(result.stdout).not.to.contain(uploadToken);
    expect(result.stdout).not.to.contain(uploadToken.slice('strata_'.length, 20));
    expect(result.stdout).not.to.contain(hashToken(uploadToken).toString('hex'));
  });

  it('revoke makes the API answer 401', async () => {
    const result = await runStrata(stack, ['token', 'revoke', '--tenant', 'acme', '--id', uploadTokenId]);

    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain(`token ${uploadTokenId} revoked`);
    expect(await openScanWith(uploadToken)).to.deep.equal({ status: 401, code: 'UNAUTHORIZED' });

    const again = await runStrata(stack, ['token', 'revoke', '--tenant', 'acme', '--id', uploadTokenId]);
    expect(again.stdout).to.contain('already revoked');
    const list = await runStrata(stack, ['token', 'list', '--tenant', 'acme']);
    expect(list.stdout).to.match(new RegExp(`${uploadTokenId}\\s+site-2 agent\\s+-\\s+upload,act\\s+revoked`));

    const audit = await stack.services.pool.query("SELECT action FROM control.audit_event WHERE details->>'tokenId' = $1 ORDER BY event_id", [uploadTokenId]);
    expect(audit.rows.map((row) => row.action)).to.deep.equal(['token.created', 'token.revoked']);
  });

  it('expired token gets 401', async () => {
    const result = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', 'brief', '--scopes', 'upload', '--expires', '2s']);
    expect(result.code, result.stderr).to.equal(0);
    const token = tokenIn(result.stdout);

    expect((await openScanWith(token)).status).to.equal(201);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await openScanWith(token)).to.deep.equal({ status: 401, code: 'UNAUTHORIZED' });
  });

  it('token without upload scope gets 403', async () => {
    const result = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', 'reports', '--scopes', 'report']);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.contain('does not expire');
    expect((await openScanWith(tokenIn(result.stdout))).status).to.equal(403);
  });

  it('rejects unknown scopes and bad durations', async () => {
    const scopes = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', 'x', '--scopes', 'upload,root']);
    expect(scopes.code).to.equal(2);
    expect(scopes.stderr).to.contain('unknown scope(s) root; choose from upload, act, inventory, report, admin');

    const expires = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', 'x', '--scopes', 'upload', '--expires', '30 days']);
    expect(expires.code).to.equal(2);
    expect(expires.stderr).to.contain('--expires must be from 1s to 10y');
  });

  it('stores one spelling per person', async () => {
    const upper = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', 'p1', '--scopes', 'admin', '--person', ' Alice@Example.com ']);
    expect(upper.code, upper.stderr).to.equal(0);
    expect(upper.stdout).to.contain('held by alice@example.com');

    // A Cyrillic "а" would make a second "alice" for the two-person rule.
    const lookalike = await runStrata(stack, ['token', 'create', '--tenant', 'acme', '--name', 'p2', '--scopes', 'admin', '--person', '\u0430lice@example.com']);
    expect(lookalike.code).to.equal(1);
    expect(lookalike.stderr).to.contain('is invalid: use 1 to 200 ASCII letters');
  });

  it('rejects an unknown tenant and a foreign token id', async () => {
    const tenant = await runStrata(stack, ['token', 'list', '--tenant', 'nobody']);
    expect(tenant.code).to.equal(1);
    expect(tenant.stderr).to.contain('tenant nobody not found');

    const other = await createTenant(stack, 'globex');
    const { rows } = await stack.services.pool.query('SELECT id FROM control.api_token WHERE tenant_id = $1', [other.id]);
    const foreign = await runStrata(stack, ['token', 'revoke', '--tenant', 'acme', '--id', rows[0].id]);
    expect(foreign.code).to.equal(1);
    expect(foreign.stderr).to.contain('not found');
    expect((await openScanWith(other.agentToken)).status).to.equal(201);
  });

  it('help describes every action', async () => {
    const help = await runStrata(stack, ['token', 'create', '--help']);
    expect(help.code).to.equal(0);
    for (const option of ['--tenant', '--name', '--scopes', '--expires']) expect(help.stdout).to.contain(option);
    expect((await runStrata(stack, ['token', '--help'])).stdout).to.contain('strata token revoke --tenant CODE --id TOKEN_ID');
  });
});
