import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { fileRows, ingestCounts } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

// Hard input N5, as far as ingest goes: the Win32 long-path prefix, paths past the old
// 260-character MAX_PATH, and segments over 255 bytes. Tier-2 key limits belong to the
// planning stage and are not tested here.

/** Small enough to test both sides of the limit, large enough for a 2,400-character path. */
const MAX_PATH_CHARS = 4000;

/** Build a Windows folder path of exactly `length` characters from 15-character segments. */
function folderOfLength(length: number): string {
  let path = 'D:\\deep';
  for (let i = 0; path.length < length; i++) path += `\\segment${String(i).padStart(6, '0')}`;
  return path.slice(0, length).replace(/\\+$/, (separators) => 'x'.repeat(separators.length));
}

describe('long paths', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cases_long_paths', { env: { STRATA_MAX_PATH_CHARS: String(MAX_PATH_CHARS) } });
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  /** Upload the rows as one chunk, complete the scan and return the stored rows and the scan's counts. */
  async function ingest(rows: string[][]) {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
    const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows));
    expect(result.status, JSON.stringify(result.body)).to.equal(200);

    const view = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: rows.length });
    expect(view.status).to.equal('OK');
    return { view, stored: await fileRows(stack, 't_acme', scanGuid) };
  }

  it('stores a file seen with and without the long-path prefix once', async () => {
    const { view, stored } = await ingest([
      ['C:\\x', 'same.txt', '1', '1', '1', '1'],
      ['\\\\?\\C:\\x', 'same.txt', '1', '1', '1', '1'],
      ['\\\\server\\share\\x', 'unc.txt', '2', '1', '1', '1'],
      ['\\\\?\\UNC\\server\\share\\x', 'unc.txt', '2', '1', '1', '1'],
    ]);

    expect(stored).to.deep.equal(['C:\\x|same.txt|1|1|1|1', '\\\\server\\share\\x|unc.txt|2|1|1|1']);
    expect(view.fileCount).to.equal(2);
    expect(view.duplicateCount).to.equal(2);
    expect(view.dirCount).to.equal(2);
  });

  it('accepts a 2,400-character folder path', async () => {
    const longPath = folderOfLength(2400);
    expect(longPath).to.have.length(2400);

    const { stored } = await ingest([[longPath, 'deep.txt', '7', '1', '1', '1']]);

    expect(stored).to.deep.equal([`${longPath}|deep.txt|7|1|1|1`]);
  });

  it('accepts segments over 255 bytes', async () => {
    // 255 CJK characters are 765 bytes of UTF-8, the longest NTFS name in characters.
    const longSegment = '漢'.repeat(255);
    expect(Buffer.byteLength(longSegment)).to.equal(765);

    const rows = [
      [`D:\\${longSegment}`, 'short.txt', '1', '1', '1', '1'],
      ['D:\\short', `${longSegment}.txt`, '2', '1', '1', '1'],
      ['D:\\short', 'é'.repeat(200), '3', '1', '1', '1'],
    ];
    const { stored } = await ingest(rows);

    expect(stored).to.deep.equal(rows.map((row) => row.join('|')).sort());
  });

  it('accepts a folder path at STRATA_MAX_PATH_CHARS', async () => {
    const atLimit = folderOfLength(MAX_PATH_CHARS);

    const { stored } = await ingest([[atLimit, 'edge.txt', '1', '1', '1', '1']]);

    expect(stored).to.deep.equal([`${atLimit}|edge.txt|1|1|1|1`]);
  });

  it('rejects a folder path past STRATA_MAX_PATH_CHARS naming the limit', async () => {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken);
    const rows = [
      ['D:\\ok', 'fine.txt', '1', '1', '1', '1'],
      [folderOfLength(MAX_PATH_CHARS + 1), 'too-deep.txt', '1', '1', '1', '1'],
    ];
    const before = await ingestCounts(stack, 't_acme');

    const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows));

    expect(result.status, JSON.stringify(result.body)).to.equal(422);
    expect(result.body.error.code).to.equal('LIMIT_EXCEEDED');
    expect(result.body.error.limit).to.equal('STRATA_MAX_PATH_CHARS');
    expect(result.body.error.line).to.equal(3);
    expect(result.body.error.column).to.equal('dir_path');
    expect(result.body.error.message).to.contain('STRATA_MAX_PATH_CHARS');
    expect(await ingestCounts(stack, 't_acme')).to.deep.equal(before);
  });
});
