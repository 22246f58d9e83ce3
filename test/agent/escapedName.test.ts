import { expect } from 'chai';
import { isUtf8 } from 'node:buffer';

import {
  decodeName,
  decodeWireDirPath,
  encodeNameBytes,
  escapeNameBytes,
  InvalidEscapedNameError,
  isEscapedName,
  joinWirePath,
  readEntryName,
} from '../../agent/escapedName.ts';
import { isWellFormedUtf8 } from '../../src/wire/escapedName.ts';

/** A deterministic generator (mulberry32), so a failing byte string can be reproduced. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Byte strings that mix ASCII, `%`, valid multibyte sequences, surrogate forms and stray bytes. */
function randomBytes(random: () => number): Buffer {
  const pieces: Buffer[] = [];
  const count = 1 + Math.floor(random() * 12);
  for (let i = 0; i < count; i++) {
    const kind = Math.floor(random() * 6);
    if (kind === 0) {
      pieces.push(Buffer.from([0x20 + Math.floor(random() * 0x5f)]));
    } else if (kind === 1) {
      pieces.push(Buffer.from('%'));
    } else if (kind === 2) {
      pieces.push(Buffer.from(['é', '漢', '😀', '\u0301', '%41'][Math.floor(random() * 5)]!, 'utf8'));
    } else if (kind === 3) {
      // WTF-8 forms of lone surrogates, as libuv returns them on Windows.
      pieces.push(Buffer.from([0xed, 0xa0 + Math.floor(random() * 0x20), 0x80 + Math.floor(random() * 0x40)]));
    } else {
      pieces.push(Buffer.from([Math.floor(random() * 256)]));
    }
  }
  return Buffer.concat(pieces);
}

describe('escaped names', function () {
  it('contract examples encode exactly', function () {
    expect(escapeNameBytes(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).to.equal('/a%ED%A0%80');
    expect(encodeNameBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9]))).to.deep.equal({ name: '/caf%E9', escaped: true });

    const posixFolder = ['/data', '/caf%E9', 'sub'].reduce((parent, segment) => joinWirePath(parent, segment, 'posix'));
    expect(posixFolder).to.equal('/data//caf%E9/sub');
    const windowsFolder = ['C:\\data', '/caf%E9', 'sub'].reduce((parent, segment) => joinWirePath(parent, segment, 'windows'));
    expect(windowsFolder).to.equal('C:\\data\\/caf%E9\\sub');

    expect(Buffer.from(decodeWireDirPath('/data//caf%E9/sub', 'posix'))).to.deep.equal(
      Buffer.concat([Buffer.from('/data/caf'), Buffer.from([0xe9]), Buffer.from('/sub')]),
    );
    expect(Buffer.from(decodeWireDirPath('C:\\data\\/caf%E9\\sub', 'windows'))).to.deep.equal(
      Buffer.concat([Buffer.from('C:\\data\\caf'), Buffer.from([0xe9]), Buffer.from('\\sub')]),
    );
  });

  it('round trip over random byte strings', function () {
    const random = seededRandom(20261204);
    let escapedCount = 0;
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(random);
      const context = `bytes ${bytes.toString('hex')}`;

      const escaped = escapeNameBytes(bytes);
      expect(Buffer.from(decodeName(escaped)), context).to.deep.equal(bytes);
      expect(escaped, context).not.to.contain('\uFFFD');

      // The validator must agree with Node's, which the walker uses on Buffer names.
      expect(isWellFormedUtf8(bytes), context).to.equal(isUtf8(bytes));

      const encoded = encodeNameBytes(bytes);
      expect(Buffer.from(decodeName(encoded.name)), context).to.deep.equal(bytes);
      expect(readEntryName(bytes).wire, context).to.equal(encoded.name);
      if (encoded.escaped) {
        escapedCount++;
      } else {
        expect(encoded.name, context).to.equal(bytes.toString('utf8'));
      }
    }

    // The generator must exercise both branches, or the loop proves little.
    expect(escapedCount).to.be.within(1000, 19_000);
  });

  it('U+D800 and U+DC00 forms stay distinct', function () {
    const highSurrogate = Buffer.from([0x6e, 0xed, 0xa0, 0x80]);
    const lowSurrogate = Buffer.from([0x6e, 0xed, 0xb0, 0x80]);

    const high = readEntryName(highSurrogate);
    const low = readEntryName(lowSurrogate);

    expect(high.wire).to.equal('/n%ED%A0%80');
    expect(low.wire).to.equal('/n%ED%B0%80');
    expect(high.raw).to.deep.equal(highSurrogate);
    expect(low.raw).to.deep.equal(lowSurrogate);

    // What Node would have produced without the escape: the same text for both.
    expect(highSurrogate.toString('utf8')).to.equal(lowSurrogate.toString('utf8'));
  });

  it('percent stays plain in valid names', function () {
    expect(encodeNameBytes(Buffer.from('100%.csv'))).to.deep.equal({ name: '100%.csv', escaped: false });
    expect(encodeNameBytes(Buffer.from('%E9'))).to.deep.equal({ name: '%E9', escaped: false });
    expect(escapeNameBytes(Buffer.concat([Buffer.from('100%'), Buffer.from([0xe9])]))).to.equal('/100%25%E9');

    // The plain name "%E9" and the escaped byte E9 cannot be confused.
    expect(decodeName('%E9')).to.deep.equal(new Uint8Array([0x25, 0x45, 0x39]));
    expect(decodeName('/%E9')).to.deep.equal(new Uint8Array([0xe9]));
  });

  it('plain names are never escaped forms', function () {
    for (const name of ['notes', 'notes.', 'notes ', 'CON.txt', 'café.txt', 'a b+c.txt', '😀']) {
      expect(isEscapedName(name), name).to.equal(false);
      expect(Buffer.from(decodeName(name)).toString('utf8'), name).to.equal(name);
    }
  });

  it('non-canonical escaped names rejected', function () {
    const invalid = ['/%41', '/%e9', '/%E', '/%GG', '/a\uD800', '/%C3%A9'];
    for (const name of invalid) {
      expect(() => decodeName(name), name).to.throw(InvalidEscapedNameError);
    }
    expect(() => decodeWireDirPath('/data//', 'posix')).to.throw(InvalidEscapedNameError, 'empty segment');
    expect(() => decodeWireDirPath('data', 'posix')).to.throw(InvalidEscapedNameError, 'must start with');
  });

  it('root child escaped on POSIX', function () {
    const wire = joinWirePath('/', '/caf%E9', 'posix');

    expect(wire).to.equal('//caf%E9');
    expect(Buffer.from(decodeWireDirPath(wire, 'posix'))).to.deep.equal(Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9]));
    expect(Buffer.from(decodeWireDirPath('/', 'posix')).toString()).to.equal('/');
  });
});
