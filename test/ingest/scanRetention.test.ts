import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

/** The stack's workers keep the last three OK scans of each share. */
const KEPT = 3;

describe('scan retention', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('scan_retention');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function scanShare(shareName: string, files: number): Promise<string> {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken, { shareName });
    const rows = Array.from({ length: files }, (_, i) => ['D:\\x', `f${i}.txt`, '1', '1', '1', '1']);
    expect((await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows))).status).to.equal(200);

    const scan = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: files });
    expect(scan.status).to.equal('OK');
    return scanGuid;
  }

  async function partitionsOf(scanGuids: string[]): Promise<Map<string, { status: string; partition: boolean }>> {
    const { rows } = await stack.services.pool.query(
      `SELECT s.scan_guid::text, s.status, to_regclass('t_acme.file_s' || s.scan_id) IS NOT NULL AS partition
         FROM t_acme.scan s WHERE s.scan_guid = ANY($1::uuid[])`,
      [scanGuids],
    );
    return new Map(rows.map((row) => [row.scan_guid, { status: row.status, partition: row.partition }]));
  }

  it('drops scans beyond the retention', async () => {
    const finance: string[] = [];
    for (let i = 0; i < KEPT + 2; i++) finance.push(await scanShare('finance', i + 1));
    const other = await scanShare('legal', 2);

    const state = await partitionsOf([...finance, other]);
    for (const guid of finance.slice(0, 2)) expect(state.get(guid)).to.deep.equal({ status: 'EXPIRED', partition: false });
    for (const guid of finance.slice(2)) expect(state.get(guid)).to.deep.equal({ status: 'OK', partition: true });
    expect(state.get(other)).to.deep.equal({ status: 'OK', partition: true });

    // Only the kept scans' rows remain: 3 + 4 + 5 files of finance and 2 of legal.
    const { rows } = await stack.services.pool.query('SELECT count(*)::int AS n FROM t_acme.file');
    expect(rows[0].n).to.equal(3 + 4 + 5 + 2);
  });
});
