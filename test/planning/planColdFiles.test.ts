import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { ageHistogram } from '../../src/planning/ageHistogram.ts';
import { call, HEADER, putChunk, quote, scanRequest, waitForScan } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const DAY = 86_400;
const YEAR = 365 * DAY;

describe('planColdFiles', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  const now = Math.floor(Date.now() / 1000);

  async function ingest(share: string, files: { dir: string; name: string; size: number; atime: number }[], pathStyle: 'windows' | 'posix' = 'windows') {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', {
      token: tenant.agentToken,
      json: scanRequest({ shareName: share, pathStyle, rootPath: pathStyle === 'windows' ? 'D:\\' : '/' }),
    });
    const lines = files.map((file) => `${quote(file.dir)},${quote(file.name)},${file.size},${file.atime},${file.atime},${file.atime}\n`);
    await putChunk(stack.api!.url, tenant.agentToken, opened.body.scanGuid, 0, HEADER + lines.join(''));
    await call(stack.api!.url, 'POST', `/v1/scans/${opened.body.scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: files.length, unreadableCount: 0 },
    });
    expect((await waitForScan(stack.api!.url, tenant.agentToken, opened.body.scanGuid)).status).to.equal('OK');
  }

  before(async () => {
    stack = await startStack('plan');
    tenant = await createTenant(stack, 'acme');

    await ingest('finance', [
      { dir: 'D:\\Finance\\2019', name: 'old-a.xlsx', size: 1000, atime: now - 2 * YEAR },
      { dir: 'D:\\Finance\\2019', name: 'old-b.xlsx', size: 3000, atime: now - YEAR - DAY },
      { dir: 'D:\\Finance\\2024', name: 'edge-in.xlsx', size: 50, atime: now - YEAR - 60 },
      { dir: 'D:\\Finance\\2024', name: 'edge-out.xlsx', size: 70, atime: now - YEAR + 3600 },
      { dir: 'D:\\Finance\\2025', name: 'fresh.xlsx', size: 9000, atime: now - DAY },
      { dir: 'D:\\', name: 'root-old.txt', size: 5, atime: now - 3 * YEAR },
    ]);
    await ingest('media', [{ dir: '/srv/media/raw', name: 'clip.mov', size: 500_000, atime: now - 4 * YEAR }], 'posix');
  });
  after(async () => stack?.close());

  async function planned(): Promise<string[]> {
    const { rows } = await stack.services.pool.query('SELECT share_name, full_path, state FROM t_acme.tier_object ORDER BY full_path');
    return rows.map((row) => `${row.share_name}|${row.full_path}|${row.state}`);
  }

  it('plans exactly the files past the threshold of one share', async () => {
    const summary = await planColdFiles(stack.services.pool, tenant, { share: 'finance', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

    expect(await planned()).to.deep.equal([
      'finance|D:\\Finance\\2019\\old-a.xlsx|PLANNED',
      'finance|D:\\Finance\\2019\\old-b.xlsx|PLANNED',
      'finance|D:\\Finance\\2024\\edge-in.xlsx|PLANNED',
      'finance|D:\\root-old.txt|PLANNED',
    ]);
    expect(summary.newlyPlanned).to.equal(4);
    expect(summary.plannedFiles).to.equal(4);
    expect(summary.plannedBytes).to.equal(4055);
    expect(summary.topDirs[0]).to.deep.equal({ share: 'finance', dirPath: 'D:\\Finance\\2019', files: 2, bytes: 4000 });
  });

  it('plans nothing new when run again', async () => {
    const summary = await planColdFiles(stack.services.pool, tenant, { share: 'finance', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    expect(summary.newlyPlanned).to.equal(0);
    expect(summary.plannedFiles).to.equal(4);
  });

  it('plans every share when none is named, joining POSIX paths with /', async () => {
    const summary = await planColdFiles(stack.services.pool, tenant, { olderThanSeconds: YEAR, plannedBy: 'test', apply: true });
    expect(summary.newlyPlanned).to.equal(1);
    expect(await planned()).to.include('media|/srv/media/raw/clip.mov|PLANNED');
  });

  it('records the plan in the audit log', async () => {
    const { rows } = await stack.services.pool.query("SELECT count(*)::int AS n FROM t_acme.audit_log WHERE action = 'plan.applied'");
    expect(rows[0].n).to.equal(3);
  });

  it('buckets the latest scan by last access age', async () => {
    const buckets = await ageHistogram(stack.services.pool, tenant, 'finance');
    const byLabel = Object.fromEntries(buckets.map((bucket) => [bucket.label, bucket.files]));
    expect(byLabel).to.deep.equal({
      '< 30 days': 1,
      '30-90 days': 0,
      '90 days-1 year': 1,
      '1-2 years': 2,
      '2-3 years': 1,
      '3-5 years': 1,
      '> 5 years': 0,
    });
  });
});
