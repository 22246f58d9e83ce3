import { expect } from 'chai';
import { Roles } from '../../src/db/roles.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('tenant isolation', () => {
  let stack: Stack;
  let acme: ProvisionedTenant;
  let globex: ProvisionedTenant;
  let acmeScan: string;

  before(async () => {
    stack = await startStack('isolation');
    acme = await createTenant(stack, 'acme');
    globex = await createTenant(stack, 'globex');

    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: acme.agentToken, json: scanRequest() });
    expect(opened.status).to.equal(201);
    acmeScan = opened.body.scanGuid;
    const chunk = await putChunk(stack.api!.url, acme.agentToken, acmeScan, 0, `${HEADER}"D:\\a","secret.txt",1,1,1,1\n`);
    expect(chunk.status).to.equal(200);
  });
  after(async () => stack?.close());

  describe('through the API', () => {
    it("answers 404 for another tenant's scan", async () => {
      const result = await call(stack.api!.url, 'GET', `/v1/scans/${acmeScan}`, { token: globex.agentToken });
      expect(result.status).to.equal(404);
    });

    it("refuses a chunk for another tenant's scan", async () => {
      const result = await putChunk(stack.api!.url, globex.agentToken, acmeScan, 1, `${HEADER}"D:\\b","x.txt",1,1,1,1\n`);
      expect(result.status).to.equal(404);
      const { rows } = await stack.services.pool.query('SELECT count(*)::int AS n FROM t_globex.file');
      expect(rows[0].n).to.equal(0);
    });

    it("refuses completing another tenant's scan", async () => {
      const result = await call(stack.api!.url, 'POST', `/v1/scans/${acmeScan}/complete`, {
        token: globex.agentToken,
        json: { chunkCount: 1, rowCount: 1, unreadableCount: 0 },
      });
      expect(result.status).to.equal(404);
    });
  });

  describe('through SQL as the api role', () => {
    /** Run `sql` as the api role with the given transaction-local settings; return the rows or the error code. */
    async function asApi(settings: { searchPath: string; tenantId?: string }, sql: string): Promise<{ rows?: unknown[]; code?: string }> {
      const client = await stack.services.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL ROLE ${Roles.api}`);
        await client.query("SELECT set_config('search_path', $1, true)", [settings.searchPath]);
        if (settings.tenantId !== undefined) await client.query("SELECT set_config('app.tenant_id', $1, true)", [settings.tenantId]);
        const { rows } = await client.query(sql);
        return { rows };
      } catch (error) {
        return { code: (error as { code?: string }).code };
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    }

    it("sees no rows with the other tenant's search_path", async () => {
      const result = await asApi({ searchPath: 't_acme', tenantId: globex.id }, 'SELECT * FROM scan');
      expect(result.rows).to.deep.equal([]);
    });

    it('sees its own rows with matching settings', async () => {
      const result = await asApi({ searchPath: 't_acme', tenantId: acme.id }, 'SELECT scan_guid FROM scan');
      expect(result.rows).to.deep.equal([{ scan_guid: acmeScan }]);
    });

    it('sees no rows when app.tenant_id is unset', async () => {
      const result = await asApi({ searchPath: 't_acme' }, 'SELECT * FROM scan');
      expect(result.rows).to.deep.equal([]);
    });

    it('sees no rows when app.tenant_id is empty', async () => {
      const result = await asApi({ searchPath: 't_acme', tenantId: '' }, 'SELECT * FROM scan');
      expect(result.rows).to.deep.equal([]);
    });

    it('cannot insert a row for another tenant', async () => {
      const result = await asApi(
        { searchPath: 't_acme', tenantId: globex.id },
        `INSERT INTO scan (tenant_id, scan_guid, share_name, source_type, root_path, path_style, started_at)
         VALUES ('${acme.id}', gen_random_uuid(), 'x', 'NTFS', 'D:\\', 'windows', 0)`,
      );
      expect(result.code).to.equal('42501');
    });

    it('cannot read file rows, which only ingest and planner may read', async () => {
      const result = await asApi({ searchPath: 't_acme', tenantId: acme.id }, 'SELECT * FROM file');
      expect(result.code).to.equal('42501');
    });
  });

  describe('tenant settings on pooled connections', () => {
    it('leaves no tenant setting behind after a request', async () => {
      for (let i = 0; i < 5; i++) await call(stack.api!.url, 'GET', `/v1/scans/${acmeScan}`, { token: acme.agentToken });

      const clients = await Promise.all(Array.from({ length: 4 }, () => stack.services.pool.connect()));
      try {
        for (const client of clients) {
          const { rows } = await client.query(
            "SELECT current_user AS role, current_setting('search_path') AS path, coalesce(current_setting('app.tenant_id', true), '') AS tenant",
          );
          expect(rows[0].tenant).to.equal('');
          expect(rows[0].path).not.to.contain('t_acme');
          expect(rows[0].role).not.to.equal(Roles.api);
        }
      } finally {
        for (const client of clients) client.release();
      }
    });
  });
});
