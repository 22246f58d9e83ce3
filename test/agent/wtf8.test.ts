import { expect } from 'chai';

import { decodeWtf8, InvalidWtf8Error } from '../../agent/wtf8.ts';

describe('agent WTF-8 decoding', function () {
  it('decodes valid UTF-8 as Node does', function () {
    for (const text of ['', 'report.pdf', 'C:\\data\\café', 'Ελληνικά', '日本語.txt', 'emoji \u{1F600} end', '\u{10FFFF}', '\u007f\u0080\u07ff\u0800\uffff']) {
      expect(decodeWtf8(Buffer.from(text, 'utf8')), JSON.stringify(text)).to.equal(text);
    }
  });

  it('keeps unpaired surrogates', function () {
    expect(decodeWtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).to.equal('a\uD800');
    expect(decodeWtf8(Buffer.from([0xed, 0xbf, 0xbf, 0x62]))).to.equal('\uDFFF' + 'b');
    expect(decodeWtf8(Buffer.from([0xed, 0xb0, 0x80, 0xed, 0xa0, 0x80]))).to.equal('\uDC00\uD800');
  });

  it('rejects bytes that are not WTF-8', function () {
    const cases: [number[], number][] = [
      [[0x61, 0xe9], 1], // Latin-1 é: a lead byte without its continuation
      [[0xc0, 0x80], 0], // overlong NUL
      [[0xe0, 0x80, 0x80], 0], // overlong three-byte form
      [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
      [[0x80], 0], // continuation byte alone
      [[0x61, 0x62, 0xed, 0xa0], 2], // truncated surrogate
      [[0xff], 0],
    ];
    for (const [bytes, offset] of cases) {
      expect(() => decodeWtf8(Buffer.from(bytes)), bytes.join(' '))
        .to.throw(InvalidWtf8Error)
        .with.property('message', `Invalid WTF-8: no valid sequence starts at byte ${offset}`);
    }
  });
});
