import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { PARQUET_MEDIA_TYPE } from '../../src/wire/contract.ts';
import { call, scanRequest, waitForScan, type HttpResult } from '../support/http.ts';
import { fileColumns, parquet } from '../support/parquet.ts';
import { fileRows, storedRowCount } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('Parquet chunks', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('parquet', { env: { STRATA_MAX_CHUNK_ROWS: '20' } });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function openScan(): Promise<string> {
    const result = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    return result.body.scanGuid;
  }

  function put(scanGuid: string, seq: number, body: Buffer, gzip = false): Promise<HttpResult> {
    return call(stack.api!.url, 'PUT', `/v1/scans/${scanGuid}/chunks/${seq}`, {
      token: tenant.agentToken,
      body: new Uint8Array(gzip ? gzipSync(body) : body),
      headers: { 'content-type': PARQUET_MEDIA_TYPE, ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
    });
  }

  it('ingests rows byte-exact like CSV', async () => {
    const rows = [
      { dir: 'D:\\Données\\a, b', name: 'café.txt', size: 1n },
      { dir: 'D:\\Données\\a, b', name: 'cafe\u0301.txt', size: 2n },
      { dir: 'D:\\x', name: 'line\nfeed "quoted".txt', size: 9_007_199_254_740_993n },
      { dir: 'D:\\x', name: '漢字 😀.pdf', size: 0n },
    ];
    const scanGuid = await openScan();
    const result = await put(scanGuid, 0, parquet(fileColumns(rows)));
    expect(result.status, JSON.stringify(result.body)).to.equal(200);
    expect(result.body.rows).to.equal(4);

    await call(stack.api!.url, 'POST', `/v1/scans/${scanGuid}/complete`, { token: tenant.agentToken, json: { chunkCount: 1, rowCount: 4, unreadableCount: 0 } });
    expect((await waitForScan(stack.api!.url, tenant.agentToken, scanGuid)).status).to.equal('OK');

    const stored = await fileRows(stack, 't_acme', scanGuid);
    const expected = rows.map((row) => [row.dir, row.name, Number(row.size), 1_600_000_000, 1_600_000_001, 1_500_000_000].join('|')).sort();
    expect(stored).to.deep.equal(expected);
  });

  it('accepts gzip encoding and optional columns', async () => {
    const columns = [
      ...fileColumns([{ dir: 'D:\\y', name: 'with-frn.txt', size: 5n }]),
      { name: 'frn', data: [281474976710657n], type: 'INT64' as const },
      { name: 'attributes', data: [32], type: 'INT32' as const },
    ];
    const result = await put(await openScan(), 0, parquet(columns), true);
    expect(result.status, JSON.stringify(result.body)).to.equal(200);
    expect(result.body.rows).to.equal(1);
  });

  it('replays a repeat and rejects other bytes', async () => {
    const scanGuid = await openScan();
    const body = parquet(fileColumns([{ dir: 'D:\\r', name: 'one.txt', size: 1n }]));
    expect((await put(scanGuid, 0, body)).body.replayed).to.equal(false);
    expect((await put(scanGuid, 0, body)).body.replayed).to.equal(true);

    const other = await put(scanGuid, 0, parquet(fileColumns([{ dir: 'D:\\r', name: 'two.txt', size: 1n }])));
    expect(other.status).to.equal(409);
  });

  const bad: { name: string; body: () => Buffer; status: number; mentions: string[] }[] = [
    { name: 'a file that is not Parquet', body: () => Buffer.from('dir_path,name\n'), status: 422, mentions: ['not a readable Parquet file'] },
    {
      name: 'an unknown column',
      body: () => parquet([...fileColumns([{ dir: 'D:\\z', name: 'a', size: 1n }]), { name: 'owner', data: ['x'], type: 'STRING' }]),
      status: 422,
      mentions: ['unknown column "owner"'],
    },
    {
      name: 'a missing column',
      body: () => parquet(fileColumns([{ dir: 'D:\\z', name: 'a', size: 1n }]).slice(0, 5)),
      status: 422,
      mentions: ['ctime_unix'],
    },
    {
      name: 'a negative size',
      body: () => parquet(fileColumns([{ dir: 'D:\\z', name: 'a', size: 1n }, { dir: 'D:\\z', name: 'b', size: -1n }])),
      status: 422,
      mentions: ['row 2', 'size_bytes'],
    },
    {
      name: 'too many rows',
      body: () => parquet(fileColumns(Array.from({ length: 21 }, (_, i) => ({ dir: 'D:\\many', name: `f${i}`, size: 1n })))),
      status: 413,
      mentions: ['STRATA_MAX_CHUNK_ROWS'],
    },
  ];

  for (const badCase of bad) {
    it(`rejects ${badCase.name} and keeps nothing`, async () => {
      const scanGuid = await openScan();

      const result = await put(scanGuid, 0, badCase.body());
      expect(result.status, JSON.stringify(result.body)).to.equal(badCase.status);
      for (const text of badCase.mentions) expect(result.body.error.message).to.contain(text);

      // Checked for this scan alone: the workers may still be normalising earlier tests' chunks.
      expect(await storedRowCount(stack, 't_acme', scanGuid)).to.equal(0);
      const view = await call(stack.api!.url, 'GET', `/v1/scans/${scanGuid}`, { token: tenant.agentToken });
      expect(view.body.chunksReceived).to.equal(0);
    });
  }
});
