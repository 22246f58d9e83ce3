import { expect } from 'chai';
import type { OpenScanRequest } from '../../src/wire/contract.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { fileRows } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

// Names that look alike, or that a file system API would rewrite, are distinct files
// and must stay distinct rows, compared byte for byte.

const POSIX_SCAN: Partial<OpenScanRequest> = { pathStyle: 'posix', sourceType: 'POSIX', rootPath: '/srv' };

describe('names that look alike', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cases_distinct_names');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  /** Upload the rows as one chunk, complete the scan, and check that every row is stored as sent. */
  async function expectStoredAsSent(rows: string[][], scan: Partial<OpenScanRequest> = {}): Promise<void> {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken, scan);
    const result = await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, HEADER + csvLines(rows));
    expect(result.status, JSON.stringify(result.body)).to.equal(200);

    const view = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount: rows.length });
    expect(view.status).to.equal('OK');
    expect(view.fileCount).to.equal(rows.length);
    expect(view.duplicateCount).to.equal(0);
    expect(await fileRows(stack, 't_acme', scanGuid)).to.deep.equal(rows.map((row) => row.join('|')).sort());
  }

  // Hard input N4: Win32 path parsing drops a trailing dot or space and maps device
  // names such as CON and NUL to devices, but NTFS stores all five as distinct files.
  it('keeps names Win32 would rewrite distinct', async () => {
    const names = ['notes', 'notes.', 'notes ', 'CON.txt', 'nul.tar.gz'];
    await expectStoredAsSent(names.map((name, i) => ['C:\\Shares\\Docs', name, String(i), '1', '1', '1']));
  });

  // Hard input N9: NTFS and most POSIX file systems do not normalise Unicode, so
  // café.txt in NFC and in NFD are two files, and so are two such folders.
  it('keeps NFC and NFD spellings distinct', async () => {
    const nfc = 'caf\u00e9';
    const nfd = 'cafe\u0301';
    expect(nfc.normalize('NFC')).to.equal(nfd.normalize('NFC'));

    await expectStoredAsSent([
      ['C:\\Shares\\Docs', `${nfc}.txt`, '1', '1', '1', '1'],
      ['C:\\Shares\\Docs', `${nfd}.txt`, '2', '1', '1', '1'],
      [`C:\\Shares\\${nfc}`, 'x.txt', '3', '1', '1', '1'],
      [`C:\\Shares\\${nfd}`, 'x.txt', '4', '1', '1', '1'],
    ]);
  });

  // Hard input N3: the agent sends a name that is not valid Unicode as "/" followed by
  // its bytes, with %XX for each invalid byte and for "%". A name cannot contain "/",
  // so the escaped form never equals a real name. Lone surrogates U+D800 and U+DC00
  // are ED A0 80 and ED B0 80 in WTF-8.
  // NOTE: this fails until the storage CHECK on names allows exactly one leading "/".
  it('keeps escaped Windows names distinct', async () => {
    const names = ['/a%ED%A0%80', '/a%ED%B0%80', 'a%ED%A0%80'];
    await expectStoredAsSent(names.map((name, i) => ['C:\\Shares\\Docs', name, String(i), '1', '1', '1']));
  });

  // POSIX names in Latin-1 ("caf\xE9", "50% caf\xE9") escape the same way. The literal
  // text and the UTF-8 spelling stay apart from them.
  // NOTE: this fails until the storage CHECK on names allows exactly one leading "/".
  it('keeps escaped POSIX names distinct', async () => {
    const names = ['/caf%E9', 'caf%E9', 'café', '/50%25 caf%E9', '50% café'];
    await expectStoredAsSent(names.map((name, i) => ['/srv/docs', name, String(i), '1', '1', '1']), POSIX_SCAN);
  });
});
