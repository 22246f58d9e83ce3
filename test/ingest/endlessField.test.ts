import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { call, HEADER, openScan } from '../support/http.ts';
import { ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('a chunk with an endless field', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('endless_field');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  // 40 MB of one name compresses to about 40 KB: the limit must apply as the bytes
  // stream, before any stage buffers the whole record.
  for (const [label, row] of [
    ['unquoted', `/r,${'x'.repeat(40 << 20)}`],
    ['quoted', `/r,"${'x'.repeat(40 << 20)}`],
  ] as const) {
    it(`rejects a 40 MB ${label} name at its line`, async () => {
      const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
      const before = await ingestCounts(stack, 't_acme');

      const result = await call(stack.api!.url, 'PUT', `/v1/scans/${scanGuid}/chunks/0`, {
        token: tenant.agentToken,
        body: new Uint8Array(gzipSync(Buffer.from(HEADER + row, 'utf8'))),
        headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' },
      });

      expect(result.status, JSON.stringify(result.body)).to.equal(422);
      expect(result.body.error.code).to.equal('LIMIT_EXCEEDED');
      expect(result.body.error.line).to.equal(2);
      expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);
    });
  }
});
