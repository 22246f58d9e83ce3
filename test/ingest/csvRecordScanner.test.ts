import { expect } from 'chai';
import { CsvRecordScanner } from '../../src/ingest/csvRecordScanner.ts';
import { StrataError } from '../../src/errors.ts';

/** Feed `text` to a scanner in pieces of `size` bytes; return the records counted or the error. */
function scan(text: string | Buffer, size: number, maxRows = 1000, maxRecordBytes?: number): { records?: number; error?: StrataError } {
  const scanner = new CsvRecordScanner(maxRows, maxRecordBytes);
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
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

  const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));
  const HEAD = 'dir_path,name,size_bytes\n';

  const BAD_BYTES: { name: string; body: Buffer; line: number; column?: string; mentions: string }[] = [
    { name: 'NUL byte in a name', body: bytes(HEAD, 'C:\\x,a', [0], 'b,1\n'), line: 2, column: 'name', mentions: 'NUL' },
    { name: 'cp1252 byte in a quoted name', body: bytes(HEAD, '"C:\\x",ok,1\n"C:\\x","caf', [0xe9], '.txt",1\n'), line: 3, column: 'name', mentions: '0xE9' },
    { name: 'surrogate (WTF-8) in a folder', body: bytes(HEAD, '"C:\\', [0xed, 0xa0, 0x80], '",a,1\n'), line: 2, column: 'dir_path', mentions: '0xED' },
    { name: 'overlong slash', body: bytes(HEAD, 'C:\\x,a', [0xc0, 0xaf], ',1\n'), line: 2, column: 'name', mentions: '0xC0' },
    { name: 'bad byte after a quoted line feed and comma', body: bytes(HEAD, '"C:\\x","a\n,b",1\nC:\\y,b,', [0xff], '\n'), line: 4, column: 'size_bytes', mentions: '0xFF' },
    { name: 'bad byte in a field beyond the header', body: bytes(HEAD, 'C:\\x,a,1,', [0xff], '\n'), line: 2, mentions: 'field 4' },
    { name: 'character cut short at the end', body: bytes(HEAD, 'C:\\x,a,1', [0xe2, 0x82]), line: 2, column: 'size_bytes', mentions: 'cut short' },
    { name: 'UTF-16LE with a byte order mark', body: Buffer.from(`\ufeff${HEAD}`, 'utf16le'), line: 1, mentions: 'UTF-16 byte order mark' },
    { name: 'UTF-16LE without a byte order mark', body: Buffer.from(HEAD, 'utf16le'), line: 1, mentions: 'NUL' },
  ];

  for (const badCase of BAD_BYTES) {
    for (const size of [1, 2, 3, 1 << 16]) {
      it(`rejects ${badCase.name} in ${size}-byte pieces with its place`, () => {
        const { error } = scan(badCase.body, size);
        expect(error).to.be.instanceOf(StrataError);
        expect(error!.details.line).to.equal(badCase.line);
        expect(error!.details.column).to.equal(badCase.column);
        expect(error!.message).to.contain(badCase.mentions);
      });
    }
  }

  it('accepts multi-byte characters cut by every piece boundary', () => {
    const text = `${HEAD}"C:\\Données","漢字 😀 café",1\n`;
    for (const size of [1, 2, 3, 5]) expect(scan(text, size).records, `${size}-byte pieces`).to.equal(2);
  });

  it('rejects a record over the byte limit', () => {
    for (const size of [1, 7, 64, 4096]) {
      const long = scan(`a,b\n1,2\n${'x'.repeat(300)},2\n3,4\n`, size, 1000, 100);
      expect(long.error?.code, `pieces of ${size}`).to.equal('LIMIT_EXCEEDED');
      expect(long.error?.details.line, `pieces of ${size}`).to.equal(3);
    }

    const quoted = scan(`a,b\n"${'y\n'.repeat(100)}",2\n`, 16, 1000, 100);
    expect(quoted.error?.code).to.equal('LIMIT_EXCEEDED');
  });

  it('accepts many records at the byte limit', () => {
    const line = `${'x'.repeat(97)},2\n`;
    for (const size of [5, 64, 4096]) {
      expect(scan(`a,b\n${line.repeat(500)}`, size, 1000, 100).records, `pieces of ${size}`).to.equal(501);
    }
    const unquotedUnc = `\\\\srv\\share\\${'d'.repeat(60)},2\n`;
    expect(scan(`a,b\n${unquotedUnc.repeat(500)}`, 4096, 1000, 100).records).to.equal(501);
  });
});
