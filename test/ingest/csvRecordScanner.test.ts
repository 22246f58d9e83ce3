import { expect } from 'chai';
import { CsvRecordScanner } from '../../src/ingest/csvRecordScanner.ts';
import { StrataError } from '../../src/errors.ts';

/** Feed `text` to a scanner in pieces of `size` bytes; return the records counted or the error. */
function scan(text: string, size: number, maxRows = 1000): { records?: number; error?: StrataError } {
  const scanner = new CsvRecordScanner(maxRows);
  const bytes = Buffer.from(text, 'utf8');
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));

  let failure: StrataError | undefined;
  const done = (error?: Error | null) => {
    if (error) failure ??= error as StrataError;
  };
  for (const piece of pieces) {
    if (failure) break;
    scanner._transform(piece, 'binary', done);
  }
  if (!failure) scanner._flush(done);
  return failure ? { error: failure } : { records: scanner.records };
}

const CASES: { name: string; text: string; records?: number; markerLine?: number }[] = [
  { name: 'plain records', text: 'a,b\n1,2\n3,4\n', records: 3 },
  { name: 'last record without a line feed', text: 'a,b\n1,2', records: 2 },
  { name: 'line feed inside quotes', text: 'a,b\n"x\ny",2\n', records: 2 },
  { name: 'CRLF records', text: 'a,b\r\n1,2\r\n', records: 2 },
  { name: 'doubled quotes', text: 'a,b\n"say ""hi""\n",2\n', records: 2 },
  { name: 'quoted backslash dot', text: 'a,b\n"\\.",1\n', records: 2 },
  { name: 'backslash dot inside a quoted line', text: 'a,b\n"x\n\\.\n",1\n', records: 2 },
  { name: 'backslash dot with more text', text: 'a,b\n\\.x,1\n', records: 2 },
  { name: 'marker line', text: 'a,b\n1,2\n\\.\n3,4\n', markerLine: 3 },
  { name: 'marker line with CRLF', text: 'a,b\r\n\\.\r\n3,4\r\n', markerLine: 2 },
  { name: 'marker at the end', text: 'a,b\n1,2\n\\.', markerLine: 3 },
  { name: 'marker after a quoted line feed', text: 'a,b\n"x\ny",1\n\\.\n', markerLine: 4 },
];

describe('CsvRecordScanner', () => {
  for (const testCase of CASES) {
    for (const size of [1, 2, 3, 1 << 16]) {
      it(`${testCase.name} in ${size}-byte pieces`, () => {
        const result = scan(testCase.text, size);
        if (testCase.markerLine === undefined) {
          expect(result.error, result.error?.message).to.equal(undefined);
          expect(result.records).to.equal(testCase.records);
        } else {
          expect(result.error).to.be.instanceOf(StrataError);
          expect(result.error!.details.line).to.equal(testCase.markerLine);
        }
      });
    }
  }

  it('stops a chunk over the row limit', () => {
    const result = scan('a,b\n1,2\n3,4\n5,6\n', 1 << 16, 2);
    expect(result.error?.details.limit).to.equal('STRATA_MAX_CHUNK_ROWS');
  });
});
