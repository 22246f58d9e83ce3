import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, putChunk, scanRequest, type HttpResult } from '../support/http.ts';
import { ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const LIMITS = {
  STRATA_MAX_CHUNK_BYTES: '20000',
  STRATA_MAX_CHUNK_DECOMPRESSED_BYTES: '100000',
  STRATA_MAX_CHUNK_ROWS: '50',
  STRATA_MAX_NAME_CHARS: '32',
};

const GOOD_ROW = '"D:\\data","ok.txt",1,1,1,1\n';

interface BadCase {
  name: string;
  body: Buffer;
  gzip?: boolean;
  status: number;
  /** Text the error message must contain: the row, column or limit. */
  mentions: string[];
}

const utf8 = (text: string) => Buffer.from(text, 'utf8');

const CASES: BadCase[] = [
  { name: 'malformed row with a missing column', body: utf8(`${HEADER}${GOOD_ROW}"D:\\data","short.txt",1,1\n`), status: 422, mentions: ['line 3'] },
  { name: 'wrong header', body: utf8(`path,name,size\n"D:\\data","x",1\n`), status: 422, mentions: ['unknown column "path"'] },
  { name: 'header lacking a required column', body: utf8(`dir_path,name,size_bytes,atime_unix,mtime_unix\n`), status: 422, mentions: ['ctime_unix'] },
  { name: 'non-numeric size', body: utf8(`${HEADER}${GOOD_ROW}"D:\\data","n.txt",abc,1,1,1\n`), status: 422, mentions: ['line 3', 'size_bytes'] },
  { name: 'negative size', body: utf8(`${HEADER}${GOOD_ROW}${GOOD_ROW.replace('ok', 'k2')}"D:\\data","neg.txt",-5,1,1,1\n`), status: 422, mentions: ['line 4', 'size_bytes'] },
  { name: 'over-long name', body: utf8(`${HEADER}"D:\\data","${'n'.repeat(40)}",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column name', 'STRATA_MAX_NAME_CHARS'] },
  { name: 'name with a slash', body: utf8(`${HEADER}"D:\\data","a/b",1,1,1,1\n`), status: 422, mentions: ['line 2', 'name'] },
  { name: 'Windows name with a backslash', body: utf8(`${HEADER}"C:\\x","a\\b.txt",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column name', 'must not contain'] },
  { name: 'end-of-data marker line', body: utf8(`${HEADER}${GOOD_ROW}\\.\n"D:\\data","after.txt",1,1,1,1\n`), status: 422, mentions: ['line 3', '\\.'] },
  { name: 'end-of-data marker with CRLF', body: utf8(`${HEADER}${GOOD_ROW}\\.\r\n"D:\\data","after.txt",1,1,1,1\n`), status: 422, mentions: ['line 3'] },
  { name: 'end-of-data marker at the end', body: utf8(`${HEADER}${GOOD_ROW}\\.`), status: 422, mentions: ['line 3'] },
  { name: 'relative folder', body: utf8(`${HEADER}${GOOD_ROW}"..\\..","a.txt",1,1,1,1\n`), status: 422, mentions: ['line 3', 'column dir_path', 'drive'] },
  { name: 'folder with a trailing separator', body: utf8(`${HEADER}"C:\\x\\","a.txt",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column dir_path', 'separator'] },
  { name: 'drive-relative folder', body: utf8(`${HEADER}"C:","a.txt",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column dir_path'] },
  { name: 'folder with a .. segment', body: utf8(`${HEADER}"C:\\x\\..\\y","a.txt",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column dir_path', '".."'] },
  { name: 'folder with a doubled separator', body: utf8(`${HEADER}"C:\\x\\\\y","a.txt",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column dir_path', 'doubled'] },
  { name: 'folder with a forward slash', body: utf8(`${HEADER}"C:\\x/y","a.txt",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column dir_path'] },
  { name: 'Windows name naming an alternate data stream', body: utf8(`${HEADER}"C:\\x","report.docx:Zone.Identifier",1,1,1,1\n`), status: 422, mentions: ['line 2', 'column name', 'alternate data stream'] },
  { name: 'frn beyond 64 bits', body: utf8(`dir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix,frn\n"C:\\x","a",1,1,1,1,18446744073709551616\n`), status: 422, mentions: ['line 2', 'frn'] },
  { name: 'too many rows', body: utf8(HEADER + Array.from({ length: 51 }, (_, i) => `"D:\\d","f${i}",1,1,1,1\n`).join('')), status: 413, mentions: ['STRATA_MAX_CHUNK_ROWS'] },
  { name: 'body over the size limit', body: utf8(HEADER + `"D:\\d","x",1,1,1,1\n`.repeat(1500)), gzip: false, status: 413, mentions: ['STRATA_MAX_CHUNK_BYTES'] },
  { name: 'gzip expanding past the limit', body: utf8(`${HEADER}"D:\\d","${'z'.repeat(200_000)}",1,1,1,1\n`), status: 413, mentions: ['STRATA_MAX_CHUNK_DECOMPRESSED_BYTES'] },
  { name: 'body that is not gzip', body: utf8('not gzip at all'), status: 400, mentions: ['gzip'] },
];

describe('bad chunk input', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('bad_input', { env: LIMITS });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  async function send(badCase: BadCase, scanGuid: string): Promise<HttpResult> {
    if (badCase.name === 'body that is not gzip') {
      return call(stack.api!.url, 'PUT', `/v1/scans/${scanGuid}/chunks/0`, {
        token: tenant.agentToken,
        body: new Uint8Array(badCase.body),
        headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' },
      });
    }
    return putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, badCase.body, { gzip: badCase.gzip ?? true });
  }

  for (const badCase of CASES) {
    it(`rejects ${badCase.name} and keeps nothing`, async () => {
      const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
      const before = await ingestCounts(stack, 't_acme');

      const result = await send(badCase, opened.body.scanGuid);

      expect(result.status, JSON.stringify(result.body)).to.equal(badCase.status);
      for (const text of badCase.mentions) expect(result.body.error.message).to.contain(text);
      expect(JSON.stringify(result.body)).not.to.match(/\n\s+at /);
      expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);

      // A retry of the same bytes gets the same status, because nothing was half-kept.
      const again = await send(badCase, opened.body.scanGuid);
      expect(again.status).to.equal(result.status);
    });
  }

  it('rejects a declared Content-Length over the limit before reading', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    const body = gzipSync(Buffer.alloc(30_000, 0x41));
    const result = await call(stack.api!.url, 'PUT', `/v1/scans/${opened.body.scanGuid}/chunks/0`, {
      token: tenant.agentToken,
      body: new Uint8Array(Buffer.concat([body, Buffer.alloc(25_000)])),
      headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' },
    });
    expect(result.status).to.equal(413);
    expect(result.body.error.limit).to.equal('STRATA_MAX_CHUNK_BYTES');
  });

  it('rejects a chunk of another content type with 415', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    const result = await call(stack.api!.url, 'PUT', `/v1/scans/${opened.body.scanGuid}/chunks/0`, {
      token: tenant.agentToken,
      body: HEADER,
      headers: { 'content-type': 'application/json' },
    });
    expect(result.status).to.equal(415);
  });

  it('rejects a sequence number that is not a number', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    const result = await call(stack.api!.url, 'PUT', `/v1/scans/${opened.body.scanGuid}/chunks/x1`, {
      token: tenant.agentToken,
      body: HEADER,
      headers: { 'content-type': 'text/csv' },
    });
    expect(result.status).to.equal(400);
  });

  it('accepts a good chunk after all the bad ones', async () => {
    const opened = await call(stack.api!.url, 'POST', '/v1/scans', { token: tenant.agentToken, json: scanRequest() });
    const result = await putChunk(stack.api!.url, tenant.agentToken, opened.body.scanGuid, 0, `${HEADER}${GOOD_ROW}`);
    expect(result.status).to.equal(200);
    expect(result.body.rows).to.equal(1);
  });
});
