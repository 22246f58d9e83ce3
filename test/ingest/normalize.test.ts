import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, quote, scanRequest, waitForScan } from '../support/http.ts';
import { fileRows } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('normalisation', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('normalize');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  /** Upload rows as chunks of `perChunk`, complete the scan and wait until it is OK. */
  async function ingest(rows: string[][], perChunk: number, share = 'finance'): Promise<string> {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName: share }) });
    const scanGuid = opened.body.scanGuid;

    let seq = 0;
    for (let start = 0; start < rows.length; start += perChunk) {
      const lines = rows.slice(start, start + perChunk).map((row) => `${quote(row[0]!)},${quote(row[1]!)},${row.slice(2).join(',')}\n`);
      const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, seq++, HEADER + lines.join(''));
      expect(result.status, JSON.stringify(result.body)).to.equal(200);
    }

    await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: seq, rowCount: rows.length, unreadableCount: 0 },
    });
    const scan = await waitForScan(stack.api!.url, tenant.agentToken, scanGuid);
    expect(scan.status).to.equal('OK');
    return scanGuid;
  }

  it('yields exactly the rows sent, folders stored once', async () => {
    const rows: string[][] = [];
    for (let d = 0; d < 7; d++) {
      for (let f = 0; f < 9; f++) rows.push([`D:\\Projects\\p${d}\\sub folder`, `file ${f}.docx`, String(d * 1000 + f), '1600000000', '1600000001', '1500000000']);
    }
    const scanGuid = await ingest(rows, 10);

    const expected = rows.map((row) => row.join('|')).sort();
    expect(await fileRows(stack, 't_acme', scanGuid)).to.deep.equal(expected);

    const { rows: dirs } = await stack.services.pool.query("SELECT count(*)::int AS n FROM t_acme.dir WHERE share_name = 'finance'");
    expect(dirs[0].n).to.equal(7);
    const { rows: scan } = await stack.services.pool.query('SELECT file_count, dir_count, total_bytes, duplicate_count FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    expect(scan[0]).to.deep.equal({ file_count: 63, dir_count: 7, total_bytes: rows.reduce((sum, row) => sum + Number(row[2]), 0), duplicate_count: 0 });
  });

  it('gathers statistics on a finished scan’s partition', async () => {
    const scanGuid = await ingest([['D:\\Stats', 'a.txt', '1', '1', '1', '1']], 10, 'stats');
    const { rows } = await stack.services.pool.query<{ scan_id: number }>('SELECT scan_id FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    const partition = `file_s${rows[0]!.scan_id}`;

    // The job analyzes the partition just after marking the scan OK.
    let analyzed = false;
    for (let attempt = 0; attempt < 100 && !analyzed; attempt++) {
      const stats = await stack.services.pool.query<{ analyzed: boolean }>(
        "SELECT last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE schemaname = 't_acme' AND relname = $1",
        [partition],
      );
      analyzed = stats.rows[0]?.analyzed ?? false;
      if (!analyzed) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(analyzed).to.equal(true);
  });

  it('reuses folders across scans of one share', async () => {
    const rows = [['D:\\Projects\\p0\\sub folder', 'again.txt', '1', '1', '1', '1']];
    await ingest(rows, 10);
    const { rows: dirs } = await stack.services.pool.query("SELECT count(*)::int AS n FROM t_acme.dir WHERE share_name = 'finance'");
    expect(dirs[0].n).to.equal(7);
  });

  it('keeps Unicode and spaces byte-exact', async () => {
    const names = [
      'spaces  inside .txt',
      ' leading space.txt',
      '漢字のファイル.pdf',
      '😀 emoji.png',
    ];
    const rows = names.map((name, i) => ['D:\\Unicode ünïcödé\\folder, with comma', name, String(i), '1', '2', '3']);
    const scanGuid = await ingest(rows, 5, 'unicode');
    expect(await fileRows(stack, 't_acme', scanGuid)).to.deep.equal(rows.map((row) => row.join('|')).sort());
  });

  it('accepts optional columns in any order', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest({ shareName: 'framing' }) });
    const scanGuid = opened.body.scanGuid;
    const csv =
      'name,dir_path,frn,size_bytes,atime_unix,mtime_unix,ctime_unix,attributes\n' +
      '"first.txt","D:\\order",42,5,1,2,3,32\n' +
      '"second.txt","D:\\order",43,6,1,2,3,33\n';
    const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, csv);
    expect(result.status, JSON.stringify(result.body)).to.equal(200);
    expect(result.body.rows).to.equal(2);

    await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, { token: tenant.agentToken, json: { chunkCount: 1, rowCount: 2, unreadableCount: 0 } });
    await waitForScan(stack.api!.url, tenant.agentToken, scanGuid);
    const { rows } = await stack.services.pool.query(
      "SELECT name, frn, attributes FROM t_acme.file f JOIN t_acme.scan s USING (scan_id) WHERE s.scan_guid = $1 ORDER BY name",
      [scanGuid],
    );
    expect(rows).to.deep.equal([
      { name: 'first.txt', frn: '42', attributes: 32 },
      { name: 'second.txt', frn: '43', attributes: 33 },
    ]);
  });

  it('keeps a backslash in a POSIX name and 64-bit NTFS ids', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', {
      token: tenant.agentToken,
      json: scanRequest({ shareName: 'posix', pathStyle: 'posix', sourceType: 'POSIX', rootPath: '/srv' }),
    });
    // A quoted \. is an ordinary name; only an unquoted line holding \. alone is rejected.
    const csv =
      'dir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix,frn,attributes\n' +
      '"/srv/x","back\\slash",1,1,1,1,18446744073709551615,4294967295\n' +
      '"/srv/x","\\.",1,1,1,1,1,1\n';
    const result = await putChunk(stack.api!.url, tenant.agentToken, opened.body.scanGuid, 0, csv);
    expect(result.status, JSON.stringify(result.body)).to.equal(200);
    expect(result.body.rows).to.equal(2);
  });

  it('counts a file listed twice in one scan once', async () => {
    const rows = [
      ['D:\\dup', 'same.txt', '1', '1', '1', '1'],
      ['D:\\dup', 'same.txt', '1', '1', '1', '1'],
      ['D:\\dup', 'other.txt', '1', '1', '1', '1'],
    ];
    const scanGuid = await ingest(rows, 2, 'dups');
    const { rows: scan } = await stack.services.pool.query('SELECT file_count, duplicate_count FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    expect(scan[0]).to.deep.equal({ file_count: 2, duplicate_count: 1 });
  });
});
