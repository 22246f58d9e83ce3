import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { PARQUET_MEDIA_TYPE } from '../../src/wire/contract.ts';
import { call, HEADER, openScan, putChunk, type HttpResult } from '../support/http.ts';
import { fileColumns, parquet, type ParquetColumn } from '../support/parquet.ts';
import { ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

// Hard input N1: a NUL byte inside a name, a chunk in UTF-16LE and a lone cp1252 byte.
// Each chunk is rejected whole with the line (CSV) or row (Parquet) and the column. It
// keeps nothing, and a retry of the same chunk gets the same error.

const GOOD_ROW = '"D:\\data","ok.txt",1,1,1,1\n';

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));

interface BadChunk {
  name: string;
  body: Buffer;
  /** Where the error must point: a CSV line or a Parquet row, and the column when it is a data row. */
  place: { line?: number; row?: number; column?: string };
  /** Text the message must contain besides the place. */
  mentions: string;
}

const CSV_CHUNKS: BadChunk[] = [
  {
    name: 'a NUL byte inside a name',
    body: bytes(HEADER, GOOD_ROW, '"D:\\data","a', [0x00], 'b.txt",1,1,1,1\n'),
    place: { line: 3, column: 'name' },
    mentions: 'NUL byte',
  },
  {
    name: 'a lone cp1252 byte 0xE9 in a name',
    body: bytes(HEADER, GOOD_ROW, '"D:\\data","caf', [0xe9], '.txt",1,1,1,1\n'),
    place: { line: 3, column: 'name' },
    mentions: 'not valid UTF-8 (byte 0xE9)',
  },
  {
    name: 'a chunk in UTF-16LE with a byte order mark',
    body: Buffer.from(`\ufeff${HEADER}${GOOD_ROW}`, 'utf16le'),
    place: { line: 1 },
    mentions: 'UTF-16 byte order mark',
  },
  {
    name: 'a chunk in UTF-16LE without a byte order mark',
    body: Buffer.from(`${HEADER}${GOOD_ROW}`, 'utf16le'),
    place: { line: 1 },
    mentions: 'UTF-16',
  },
];

/** The same faults in Parquet, where text columns are byte arrays checked row by row. */
const PARQUET_CHUNKS: BadChunk[] = [
  {
    name: 'a NUL byte inside a name',
    body: parquet(fileColumns([{ dir: 'D:\\z', name: 'ok', size: 1n }, { dir: 'D:\\z', name: 'a\u0000b.txt', size: 1n }])),
    place: { row: 2, column: 'name' },
    mentions: 'NUL byte',
  },
  {
    name: 'a lone cp1252 byte 0xE9 in a name without a UTF8 annotation',
    body: withColumn(fileColumns([{ dir: 'D:\\z', name: 'ok', size: 1n }, { dir: 'D:\\z', name: 'x', size: 1n }]), {
      name: 'name',
      data: [Buffer.from('ok'), Uint8Array.from([0x63, 0x61, 0x66, 0xe9])],
      type: 'BYTE_ARRAY',
    }),
    place: { row: 2, column: 'name' },
    mentions: 'not valid UTF-8',
  },
  {
    name: 'a lone cp1252 byte in a folder annotated as UTF8',
    body: withColumn(fileColumns([{ dir: 'D:\\z', name: 'ok', size: 1n }]), {
      name: 'dir_path',
      data: [Uint8Array.from([0x44, 0x3a, 0x5c, 0xe9])],
      type: 'STRING',
    }),
    place: { row: 1, column: 'dir_path' },
    mentions: 'not valid UTF-8',
  },
  {
    name: 'a name in UTF-16LE',
    body: withColumn(fileColumns([{ dir: 'D:\\z', name: 'x', size: 1n }]), {
      name: 'name',
      data: [Buffer.from('café.txt', 'utf16le')],
      type: 'BYTE_ARRAY',
    }),
    place: { row: 1, column: 'name' },
    mentions: 'NUL byte',
  },
];

/** Replace the column of the same name. */
function withColumn(columns: ParquetColumn[], replacement: ParquetColumn): Buffer {
  return parquet(columns.map((column) => (column.name === replacement.name ? replacement : column)));
}

describe('chunks with bytes that are not UTF-8 text', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cases_rejected_bytes', { workers: false });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  function putParquet(scanGuid: string, body: Buffer): Promise<HttpResult> {
    return call(stack.api!.url, 'PUT', `/v1/scans/${scanGuid}/chunks/0`, {
      token: tenant.agentToken,
      body: new Uint8Array(body),
      headers: { 'content-type': PARQUET_MEDIA_TYPE },
    });
  }

  /** Send a bad chunk twice under one id. Both responses must be the same 422, and no row may stay. */
  async function expectRejectedTwice(bad: BadChunk, send: (scanGuid: string) => Promise<HttpResult>): Promise<string> {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
    const before = await ingestCounts(stack, 't_acme');

    const first = await send(scanGuid);
    expect(first.status, JSON.stringify(first.body)).to.equal(422);
    expect(first.body.error.code).to.equal('INVALID_CHUNK_ROW');
    expect(first.body.error.line).to.equal(bad.place.line);
    expect(first.body.error.row).to.equal(bad.place.row);
    expect(first.body.error.column).to.equal(bad.place.column);
    if (bad.place.line !== undefined) expect(first.body.error.message).to.contain(`line ${bad.place.line}`);
    if (bad.place.row !== undefined) expect(first.body.error.message).to.contain(`row ${bad.place.row}`);
    if (bad.place.column !== undefined) expect(first.body.error.message).to.contain(`column ${bad.place.column}`);
    expect(first.body.error.message).to.contain(bad.mentions);
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);

    const retry = await send(scanGuid);
    expect(retry.status).to.equal(422);
    expect(retry.body).to.deep.equal(first.body);
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);
    return scanGuid;
  }

  for (const gzip of [true, false]) {
    for (const bad of CSV_CHUNKS) {
      it(`rejects ${bad.name} in ${gzip ? 'gzip' : 'plain'} CSV at its line and column`, async () => {
        const scanGuid = await expectRejectedTwice(bad, (guid) => putChunk(stack.api!.url, tenant.agentToken, guid, 0, bad.body, { gzip }));

        // A rejection leaves the chunk id free, so corrected bytes are accepted under it.
        const fixed = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, `${HEADER}${GOOD_ROW}`, { gzip });
        expect(fixed.status, JSON.stringify(fixed.body)).to.equal(200);
        expect(fixed.body.rows).to.equal(1);
      });
    }
  }

  for (const bad of PARQUET_CHUNKS) {
    it(`rejects ${bad.name} in Parquet at its row and column`, async () => {
      const scanGuid = await expectRejectedTwice(bad, (guid) => putParquet(guid, bad.body));

      const fixed = await putParquet(scanGuid, parquet(fileColumns([{ dir: 'D:\\z', name: 'ok', size: 1n }])));
      expect(fixed.status, JSON.stringify(fixed.body)).to.equal(200);
      expect(fixed.body.rows).to.equal(1);
    });
  }
});
