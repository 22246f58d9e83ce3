import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { planColdFiles } from '../../src/planning/planColdFiles.ts';
import { formatPlanSummary } from '../../src/cli/commands/plan.ts';
import { completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const DAY = 86_400;
const YEAR = 365 * DAY;

// A share whose volume does not maintain access times. The access time
// equals the creation time on nearly every file and is sometimes older than the
// modification time. Planning must not age files by that access time alone.
describe('shares without maintained access times', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  const now = Math.floor(Date.now() / 1000);

  async function ingest(share: string, files: { name: string; atime: number; mtime: number; ctime: number }[]) {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken, { shareName: share });
    const rows = files.map((file) => [`D:\\${share}`, file.name, '100', String(file.atime), String(file.mtime), String(file.ctime)]);
    await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows));

    const scan = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: files.length });
    expect(scan.status).to.equal('OK');
  }

  before(async () => {
    stack = await startStack('cases_access_times');
    tenant = await createTenant(stack, 'acme');

    // Every file's access time stayed at its creation, two years ago. One file was edited last week.
    const created = now - 2 * YEAR;
    const frozen = Array.from({ length: 9 }, (_, i) => ({ name: `report ${i}.docx`, atime: created, mtime: created, ctime: created }));
    await ingest('archive', [...frozen, { name: 'edited last week.docx', atime: created, mtime: now - 7 * DAY, ctime: created }]);

    // A share that maintains access times: read after creation and modification.
    await ingest('projects', [
      { name: 'old.dwg', atime: now - 2 * YEAR, mtime: now - 3 * YEAR, ctime: now - 4 * YEAR },
      { name: 'read yesterday.dwg', atime: now - DAY, mtime: now - 3 * YEAR, ctime: now - 4 * YEAR },
    ]);
  });
  after(async () => stack?.close());

  it('never plans a file modified within the threshold', async () => {
    const summary = await planColdFiles(stack.services.pool, tenant, { share: 'archive', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

    expect(summary.newlyPlanned).to.equal(9);
    const { rows } = await stack.services.pool.query("SELECT name FROM t_acme.tier_object WHERE share_name = 'archive' ORDER BY name");
    expect(rows.map((row) => row.name)).not.to.include('edited last week.docx');
  });

  it('flags the share whose access times look unmaintained', async () => {
    const summary = await planColdFiles(stack.services.pool, tenant, { olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

    expect(summary.unreliableAccessTimes).to.deep.equal([{ share: 'archive', suspectFiles: 10, files: 10 }]);
    expect(formatPlanSummary(summary)).to.contain('share archive looks like it does not maintain access times');
  });

  it('plans by access time where it is maintained', async () => {
    await planColdFiles(stack.services.pool, tenant, { share: 'projects', olderThanSeconds: YEAR, plannedBy: 'test', apply: true });

    const { rows } = await stack.services.pool.query("SELECT name FROM t_acme.tier_object WHERE share_name = 'projects' ORDER BY name");
    expect(rows.map((row) => row.name)).to.deep.equal(['old.dwg']);
  });
});
