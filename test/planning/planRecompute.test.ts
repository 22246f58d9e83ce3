import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { setTarget } from '../../src/acting/targets.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { StrataError } from '../../src/errors.ts';
import { call, putChunk, quote, scanRequest, waitForScan } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const YEAR = 365 * 86_400;
const HEADER = 'dir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix,attributes\n';

describe('plan recomputation', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  const now = Math.floor(Date.now() / 1000);

  async function scan(files: { dir: string; name: string; size: number; atime: number; attributes?: number }[]): Promise<void> {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName: 'projects' }) });
    const lines = files.map((f) => `${quote(f.dir)},${quote(f.name)},${f.size},${f.atime},${f.atime},${f.atime},${f.attributes ?? 32}\n`);
    const chunkCount = files.length > 0 ? 1 : 0;
    if (chunkCount) await putChunk(stack.api!.url, tenant.agentToken, opened.body.scanGuid, 0, HEADER + lines.join(''));
    await call(stack.api!.url, 'POST', `/v1/scans/${opened.body.scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount, rowCount: files.length, unreadableCount: 0 },
    });
    expect((await waitForScan(stack.api!.url, tenant.agentToken, opened.body.scanGuid)).status).to.equal('OK');
  }

  async function plannedNames(): Promise<string[]> {
    const { rows } = await stack.services.pool.query("SELECT name, size_bytes FROM t_acme.tier_object WHERE state = 'PLANNED' ORDER BY name");
    return rows.map((row) => `${row.name}:${row.size_bytes}`);
  }

  before(async () => {
    stack = await startStack('plan_recompute');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  it('never plans cloud placeholders', async () => {
    await scan([
      { dir: 'C:\\p', name: 'cold.doc', size: 10, atime: now - 2 * YEAR },
      { dir: 'C:\\p', name: 'offline.doc', size: 10, atime: now - 2 * YEAR, attributes: 0x1000 },
      { dir: 'C:\\p', name: 'recall-open.doc', size: 10, atime: now - 2 * YEAR, attributes: 0x40000 },
      { dir: 'C:\\p', name: 'recall-data.doc', size: 10, atime: now - 2 * YEAR, attributes: 0x400000 | 0x20 },
      { dir: 'C:\\p', name: 'also-cold.doc', size: 20, atime: now - 2 * YEAR },
      { dir: 'C:\\p', name: 'hot.doc', size: 30, atime: now - 60 },
    ]);
    const summary = await planColdFiles(stack.services.pool, tenant, { olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    expect(summary.newlyPlanned).to.equal(2);
    expect(await plannedNames()).to.deep.equal(['also-cold.doc:20', 'cold.doc:10']);
  });

  it('drops plans for files read, changed or deleted since', async () => {
    await scan([
      { dir: 'C:\\p', name: 'cold.doc', size: 11, atime: now - 2 * YEAR },
      { dir: 'C:\\p', name: 'hot.doc', size: 30, atime: now - 60 },
    ]);
    const summary = await planColdFiles(stack.services.pool, tenant, { olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

    expect(summary.newlyPlanned).to.equal(0);
    expect(summary.dropped).to.equal(1);
    expect(summary.plannedFiles).to.equal(1);
    expect(await plannedNames()).to.deep.equal(['cold.doc:11']);
  });

  it('drops plans a longer threshold no longer selects', async () => {
    const summary = await planColdFiles(stack.services.pool, tenant, { olderThanSeconds: 3 * YEAR, plannedBy: 'test', apply: true });
    expect(summary.dropped).to.equal(1);
    expect(summary.plannedFiles).to.equal(0);
  });

  it('keeps rows that moved past PLANNED', async () => {
    await planColdFiles(stack.services.pool, tenant, { olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    // The database allows STUBBED only after IN_PROGRESS.
    await stack.services.pool.query("UPDATE t_acme.tier_object SET state = 'IN_PROGRESS' WHERE name = 'cold.doc'");
    await stack.services.pool.query("UPDATE t_acme.tier_object SET state = 'STUBBED' WHERE name = 'cold.doc'");
    // A rescan without the file (an empty rescan would fail as an unmounted root).
    await scan([{ dir: 'D:\\projects', name: 'new.txt', size: 1, atime: Math.floor(Date.now() / 1000) }]);

    const summary = await planColdFiles(stack.services.pool, tenant, { olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    expect(summary.plannedFiles).to.equal(0);
    const { rows } = await stack.services.pool.query("SELECT state FROM t_acme.tier_object WHERE name = 'cold.doc'");
    expect(rows).to.deep.equal([{ state: 'STUBBED' }]);
  });

  it('rejects a share with no OK scan', async () => {
    let failure: unknown;
    try {
      await planColdFiles(stack.services.pool, tenant, { share: 'nope', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(StrataError);
    expect((failure as StrataError).status).to.equal(404);
  });

  it('plans POSIX names that contain a backslash', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', {
      token: tenant.agentToken,
      json: scanRequest({ shareName: 'posix', pathStyle: 'posix', sourceType: 'POSIX', rootPath: '/srv' }),
    });
    const csv = `${HEADER}"/srv/a","b\\\\c",1,1,1,1,32\n"/srv","a\\\\b",1,1,1,1,32\n`;
    expect((await putChunk(stack.api!.url, tenant.agentToken, opened.body.scanGuid, 0, csv)).status).to.equal(200);
    await call(stack.api!.url, 'POST', `/v1/scans/${opened.body.scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 },
    });
    await waitForScan(stack.api!.url, tenant.agentToken, opened.body.scanGuid);

    const summary = await planColdFiles(stack.services.pool, tenant, { share: 'posix', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    expect(summary.newlyPlanned).to.equal(2);
  });

  it('never plans files under a Tier-2 folder', async () => {
    // The targets are set before the shares' first scans, so setTarget cannot see the
    // overlap. One root lies in another share, and one is a Windows root in other case
    // than the scan, with a trailing separator.
    const nested = await createTenant(stack, 'nested');
    await setTarget(stack.services, nested, 'posixnest', { kind: 'fs', root: '/srv/nest/tier2 (x)+/' }, 'test');
    await setTarget(stack.services, nested, 'elsewhere', { kind: 'fs', root: '/srv/nest/other.t2' }, 'test');
    await setTarget(stack.services, nested, 'winnest', { kind: 'fs', root: 'd:\\data\\TIER2\\' }, 'test');

    const old = now - 2 * YEAR;
    await scanShare(nested, { shareName: 'posixnest', pathStyle: 'posix', sourceType: 'POSIX', rootPath: '/srv/nest' }, [
      ['/srv/nest/docs', 'a.txt'],
      ['/srv/nest/tier2 (x)+', 'posixnest%2Fdocs%2Fa.txt'],
      ['/srv/nest/tier2 (x)+/sub', '.strata~sha256.log'],
      ['/srv/nest/tier2 (x)+more', 'sibling.txt'],
      ['/srv/nest/other.t2', 'object'],
      ['/srv/nest/otherXt2', 'not-the-root.txt'],
    ], old);
    await scanShare(nested, { shareName: 'winnest', rootPath: 'D:\\Data' }, [
      ['D:\\Data\\Docs', 'b.doc'],
      ['D:\\Data\\Tier2', 'object'],
      ['D:\\Data\\Tier2\\deep', 'object2'],
    ], old);

    const summary = await planColdFiles(stack.services.pool, nested, { olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    expect(summary.newlyPlanned).to.equal(4);
    const { rows } = await stack.services.pool.query("SELECT name FROM t_nested.tier_object WHERE state = 'PLANNED' ORDER BY name");
    expect(rows.map((row) => row.name)).to.deep.equal(['a.txt', 'b.doc', 'not-the-root.txt', 'sibling.txt']);
  });

  async function scanShare(owner: ProvisionedTenant, request: Record<string, string>, files: [string, string][], atime: number): Promise<void> {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: owner.agentToken, json: scanRequest(request) });
    expect(opened.status, JSON.stringify(opened.body)).to.equal(201);
    const lines = files.map(([dir, name]) => `${quote(dir)},${quote(name)},1,${atime},${atime},${atime},32\n`);
    expect((await putChunk(stack.api!.url, owner.agentToken, opened.body.scanGuid, 0, HEADER + lines.join(''))).status).to.equal(200);
    await call(stack.api!.url, 'POST', `/v1/scans/${opened.body.scanGuid}/complete`, {
      token: owner.agentToken,
      json: { chunkCount: 1, rowCount: files.length, unreadableCount: 0 },
    });
    expect((await waitForScan(stack.api!.url, owner.agentToken, opened.body.scanGuid)).status).to.equal('OK');
  }
});
