import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { fileRows, ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

// Hard input N7: on NTFS, "report.docx:Zone.Identifier" names an alternate data stream
// of report.docx, not a file. Win32 forbids ":" in file names, so a Windows row whose
// name contains one is rejected, while ":" is an ordinary character in POSIX names.

describe('alternate data stream names', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cases_ads');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  // NOTE: this fails until the storage CHECK name_fits_path_style also rejects ":" in
  // Windows names. The database stays the one place that decides what a name may hold.
  it('rejects a Windows stream name at its line and column', async () => {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
    const rows = [
      ['C:\\Users\\ana\\Downloads', 'report.docx', '10', '1', '1', '1'],
      ['C:\\Users\\ana\\Downloads', 'report.docx:Zone.Identifier', '26', '1', '1', '1'],
    ];
    const before = await ingestCounts(stack, 't_acme');

    const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows));

    expect(result.status, JSON.stringify(result.body)).to.equal(422);
    expect(result.body.error.code).to.equal('INVALID_CHUNK_ROW');
    expect(result.body.error.line).to.equal(3);
    expect(result.body.error.column).to.equal('name');
    expect(result.body.error.message).to.contain('line 3, column name');
    expect(result.body.error.message).to.contain('":"');
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);

    const retry = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows));
    expect(retry.body).to.deep.equal(result.body);
  });

  it('accepts a colon in a POSIX name', async () => {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken, { pathStyle: 'posix', sourceType: 'POSIX', rootPath: '/srv' });
    const rows = [['/srv/logs', 'run 12:30:00.log', '5', '1', '1', '1']];

    const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows));
    expect(result.status, JSON.stringify(result.body)).to.equal(200);

    const view = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: 1 });
    expect(view.status).to.equal('OK');
    expect(await fileRows(stack, 't_acme', scanGuid)).to.deep.equal(['/srv/logs|run 12:30:00.log|5|1|1|1']);
  });
});
