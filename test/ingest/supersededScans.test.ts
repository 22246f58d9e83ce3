import { expect } from 'chai';
import { finalizeScan } from '../../src/ingest/finalizeScan.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const ROWS = [['D:\\x', 'a.txt', '1', '1', '1', '1']];

describe('superseded scans', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('superseded_scans');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function scanRow(scanGuid: string): Promise<{ scan_id: number; status: string; error: string | null; partition: boolean }> {
    const { rows } = await stack.services.pool.query(
      `SELECT scan_id, status, error, to_regclass('t_acme.file_s' || scan_id) IS NOT NULL AS partition
         FROM t_acme.scan WHERE scan_guid = $1`,
      [scanGuid],
    );
    return rows[0];
  }

  /** Wait for the finalisation job to finish its clean-up after the newer scan is OK. */
  async function waitForPartitionGone(scanGuid: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await scanRow(scanGuid)).partition && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function uploadOne(scanGuid: string): Promise<void> {
    const put = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(ROWS));
    expect(put.status).to.equal(200);
  }

  it('fails an OPEN scan when a newer one finishes', async () => {
    const older = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'finance' });
    await uploadOne(older);
    const newer = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'finance' });
    await uploadOne(newer);

    const finished = await completeAndWait(stack.api!.url, tenant.agentToken, newer, { chunkCount: 1, rowCount: 1 });
    expect(finished.status).to.equal('OK');
    await waitForPartitionGone(older);

    const row = await scanRow(older);
    expect(row.status).to.equal('FAILED');
    expect(row.error).to.match(/^superseded by scan /);
    expect(row.partition).to.equal(false);

    const put = await putChunk(stack.api!.url, tenant.agentToken, older, 1, HEADER + csvLines(ROWS));
    expect(put.status).to.equal(409);
    expect(put.body.error.message).to.match(/FAILED \(superseded/);

    const complete = await call(stack.api!.url, 'POST', `/v1/scans/${older}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 1, rowCount: 1, unreadableCount: 0 },
    });
    expect(complete.status).to.equal(409);
    expect(complete.body.error.code).to.equal('SCAN_FAILED');
  });

  it('leaves other shares alone', async () => {
    const legal = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'legal' });
    const hr = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'hr' });
    await uploadOne(hr);
    await completeAndWait(stack.api!.url, tenant.agentToken, hr, { chunkCount: 1, rowCount: 1 });

    expect((await scanRow(legal)).status).to.equal('OPEN');
  });

  it('fails an older scan that finishes last', async () => {
    const older = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'sales' });
    await uploadOne(older);
    const newer = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'sales' });
    await uploadOne(newer);

    // Hold the older scan's finalisation back: mark it COMPLETING by hand, so no job runs for it.
    const olderRow = await scanRow(older);
    await stack.services.pool.query("UPDATE t_acme.scan SET status = 'COMPLETING', expected_chunks = 1, expected_rows = 1 WHERE scan_id = $1", [
      olderRow.scan_id,
    ]);
    expect((await completeAndWait(stack.api!.url, tenant.agentToken, newer, { chunkCount: 1, rowCount: 1 })).status).to.equal('OK');

    const outcome = await finalizeScan(
      stack.services.pool,
      { id: tenant.id, code: tenant.code, schemaName: tenant.schemaName },
      { tenantId: tenant.id, scanId: olderRow.scan_id },
      stack.services.log,
      { keepScans: 3, memoryMb: 64 },
    );
    expect(outcome).to.equal('superseded');

    const row = await scanRow(older);
    expect(row.status).to.equal('FAILED');
    expect(row.error).to.match(/^superseded: scan \d+ of the share was opened later/);
    expect(row.partition).to.equal(false);

    const { rows } = await stack.services.pool.query(
      "SELECT count(*)::int AS n FROM t_acme.audit_log WHERE action = 'scan.superseded' AND details->>'scanGuid' = $1",
      [older],
    );
    expect(rows[0].n).to.equal(1);
  });

  it('fails an empty rescan of a share with files', async () => {
    const first = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'mounts' });
    await uploadOne(first);
    expect((await completeAndWait(stack.api!.url, tenant.agentToken, first, { chunkCount: 1, rowCount: 1 })).status).to.equal('OK');

    const empty = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'mounts' });
    const view = await completeAndWait(stack.api!.url, tenant.agentToken, empty, { chunkCount: 0, rowCount: 0 });

    expect(view.status).to.equal('FAILED');
    expect((await scanRow(empty)).error).to.match(/^found no files where scan \d+ found 1; the share root may be unmounted/);
    expect((await scanRow(first)).status).to.equal('OK');
  });

  it('accepts an empty first scan', async () => {
    const empty = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'fresh' });
    expect((await completeAndWait(stack.api!.url, tenant.agentToken, empty, { chunkCount: 0, rowCount: 0 })).status).to.equal('OK');
  });
});
