import { expect } from 'chai';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { PARQUET_MEDIA_TYPE } from '../../src/wire/contract.ts';
import { call, completeAndWait, csvLines, HEADER, openScan, putChunk } from '../support/http.ts';
import { fileColumns, parquet } from '../support/parquet.ts';
import { fileRows } from '../support/rows.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

// Hard input N2: a UTF-8 BOM before the header, CRLF line ends, and quoted names with
// a line feed, a comma and a doubled quote. The rows loaded must equal the rows sent,
// with every name byte-exact, in CSV and in Parquet.

/**
 * Names that CSV must quote or that look like CSV syntax, all legal POSIX file names. A
 * POSIX scan is used because Windows forbids `"` and `\` in names.
 */
const FRAMED_NAMES = [
  'line\nfeed.txt',
  'carriage\rreturn.txt',
  'crlf\r\ninside.txt',
  'comma, inside.txt',
  'say "hi".txt',
  '"quoted"',
  '\ufeffstarts with a BOM.txt',
  '\\.',
  ' spaces around ',
];

const FOLDER = '/srv/framing, "quoted"\nfolder';

const row = (name: string, size: number) => [FOLDER, name, String(size), '1600000000', '1600000001', '1500000000'];

describe('CSV framing', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;

  before(async () => {
    stack = await startStack('cases_csv_framing');
    tenant = await createTenant(stack, 'acme');
  });
  after(async () => stack?.close());

  /** Upload one chunk, complete the scan and return the stored rows as `fileRows` lists them. */
  async function ingestOne(body: string | Buffer, rowCount: number, contentType = 'text/csv'): Promise<string[]> {
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken, { pathStyle: 'posix', sourceType: 'POSIX', rootPath: '/srv' });
    const result = contentType === 'text/csv'
      ? await putChunk(stack.api!.url, tenant.agentToken, scanGuid, 0, body)
      : await call(stack.api!.url, 'PUT', `/v1/scans/${scanGuid}/chunks/0`, {
          token: tenant.agentToken,
          body: new Uint8Array(body as Buffer),
          headers: { 'content-type': contentType },
        });
    expect(result.status, JSON.stringify(result.body)).to.equal(200);
    expect(result.body.rows).to.equal(rowCount);

    const scan = await completeAndWait(stack.api!.url, tenant.agentToken, scanGuid, { chunkCount: 1, rowCount });
    expect(scan.status).to.equal('OK');
    return fileRows(stack, 't_acme', scanGuid);
  }

  it('keeps quoted names byte-exact behind a BOM and CRLF', async () => {
    const rows = FRAMED_NAMES.map((name, i) => row(name, i));
    const csv = `\ufeff${HEADER.replace('\n', '\r\n')}${csvLines(rows, '\r\n')}`;

    const stored = await ingestOne(csv, rows.length);

    expect(stored).to.deep.equal(rows.map((fields) => fields.join('|')).sort());
  });

  it('keeps quoted names byte-exact with LF line ends', async () => {
    const rows = FRAMED_NAMES.map((name, i) => row(name, i));

    const stored = await ingestOne(`${HEADER}${csvLines(rows)}`, rows.length);

    expect(stored).to.deep.equal(rows.map((fields) => fields.join('|')).sort());
  });

  it('loads a last line without a line end', async () => {
    const rows = [row('first.txt', 1), row('last "quoted"\nname', 2)];
    for (const lineEnd of ['\n', '\r\n']) {
      const csv = `${HEADER.replace('\n', lineEnd)}${csvLines(rows, lineEnd)}`.slice(0, -lineEnd.length);

      const stored = await ingestOne(csv, rows.length);

      expect(stored, JSON.stringify(lineEnd)).to.deep.equal(rows.map((fields) => fields.join('|')).sort());
    }
  });

  it('loads an unquoted last field without a line end', async () => {
    const stored = await ingestOne(`${HEADER}/srv/x,a.txt,1,2,3,4\n/srv/x,b.txt,5,6,7,8`, 2);
    expect(stored).to.deep.equal(['/srv/x|a.txt|1|2|3|4', '/srv/x|b.txt|5|6|7|8']);
  });

  it('keeps the same names byte-exact through Parquet', async () => {
    const sent = FRAMED_NAMES.map((name, i) => ({ dir: FOLDER, name, size: BigInt(i) }));

    const stored = await ingestOne(parquet(fileColumns(sent)), sent.length, PARQUET_MEDIA_TYPE);

    const expected = sent.map((file) => [file.dir, file.name, file.size, 1_600_000_000, 1_600_000_001, 1_500_000_000].join('|')).sort();
    expect(stored).to.deep.equal(expected);
  });
});
