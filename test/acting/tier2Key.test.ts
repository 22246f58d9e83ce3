import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { decodeSegment, encodeSegment, parseTier2Key, tier2KeyFor, tier2KeyOptionsFor, tier2SharePrefix, UnmappableFileError, type SourceFile } from '../../src/acting/tier2Key.ts';
import { assertValidKey } from '../../src/tier2/objectKeys.ts';
import { decodeListedKey } from '../../src/tier2/s3Store.ts';
import { encodeNameBytes } from '../../src/wire/escapedName.ts';

const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

function windowsFile(name: string, dirPath = 'C:\\Shares\\Docs'): SourceFile {
  return { shareName: 'finance', pathStyle: 'windows', dirPath, name };
}

function posixFile(name: string, dirPath = '/srv/data'): SourceFile {
  return { shareName: 'finance', pathStyle: 'posix', dirPath, name };
}

function keyOf(file: SourceFile): string {
  return tier2KeyFor(file).key;
}

/** Fail unless every segment is a name Windows stores as given. */
function expectWindowsSafe(key: string): void {
  for (const segment of key.split('/')) {
    expect(segment, key).not.to.match(/[<>:"\\|?*\u0000-\u001f]/);
    expect(segment, key).not.to.match(/[. ]$/);
    expect(segment.split('.')[0]!.replace(/ +$/, ''), key).not.to.match(WINDOWS_DEVICE);
    expect(Buffer.byteLength(segment), key).to.be.at.most(255);
  }
}

/** Fail unless the keys are distinct as bytes, after case folding and after Unicode normalisation. */
function expectDistinctEverywhere(keys: string[]): void {
  expect(new Set(keys).size, 'as bytes').to.equal(keys.length);
  expect(new Set(keys.map((key) => key.toUpperCase())).size, 'case-folded').to.equal(keys.length);
  expect(new Set(keys.map((key) => key.toLowerCase())).size, 'lowercased').to.equal(keys.length);
  expect(new Set(keys.map((key) => key.normalize('NFC'))).size, 'NFC').to.equal(keys.length);
  expect(new Set(keys.map((key) => key.normalize('NFD'))).size, 'NFD').to.equal(keys.length);
  expect(new Set(keys.map((key) => key.normalize('NFKC').toUpperCase())).size, 'NFKC case-folded').to.equal(keys.length);
}

function expectRoundTrip(file: SourceFile): void {
  const parsed = parseTier2Key(keyOf(file));
  expect(parsed).to.deep.equal({ kind: 'path', ...file });
}

describe('tier2KeyFor', () => {
  it('keeps ordinary names readable', () => {
    expect(keyOf(windowsFile('Budget 2024.xlsx'))).to.equal('finance/^c!3a/^shares/^docs/^budget 2024.xlsx');
    expect(keyOf(posixFile('report-final_v2.pdf'))).to.equal('finance/!posix/srv/data/report-final_v2.pdf');
    expect(keyOf(posixFile('日本語の資料.txt'))).to.equal('finance/!posix/srv/data/日本語の資料.txt');
    expect(keyOf(windowsFile('a.txt', '\\\\fs01\\Projects\\x'))).to.equal('finance/!unc/fs01/^projects/x/a.txt');
  });

  it('maps Win32-rewritten names apart', () => {
    const names = ['notes', 'notes.', 'notes ', 'notes. ', 'CON.txt', 'nul.tar.gz', 'con', 'Con', 'com1', 'lpt9.log', 'aux .txt', 'conin$'];
    const keys = names.map((name) => keyOf(windowsFile(name)));

    expectDistinctEverywhere(keys);
    keys.forEach(expectWindowsSafe);
    expect(keyOf(windowsFile('notes.'))).to.equal('finance/^c!3a/^shares/^docs/notes!2e');
    expect(keyOf(windowsFile('nul.tar.gz'))).to.equal('finance/^c!3a/^shares/^docs/!6eul.tar.gz');
    for (const name of names) expectRoundTrip(windowsFile(name));
  });

  it('maps lone surrogates apart', () => {
    // WTF-8 of "a" and U+D800, and of "a" and U+DC00, in the agent's escaped form.
    const high = windowsFile('/a%ED%A0%80');
    const low = windowsFile('/a%ED%B0%80');

    expect(keyOf(high)).not.to.equal(keyOf(low));
    expect(keyOf(high)).to.equal('finance/^c!3a/^shares/^docs/a!ed!a0!80');
    expect(keyOf(high)).not.to.contain('\ufffd');
    expectRoundTrip(high);
    expectRoundTrip(low);
  });

  it('maps NFC and NFD apart', () => {
    const keys = [keyOf(windowsFile('caf\u00e9.txt')), keyOf(windowsFile('cafe\u0301.txt'))];

    expectDistinctEverywhere(keys);
    expect(keys[0]).to.equal('finance/^c!3a/^shares/^docs/caf!c3!a9.txt');
    expect(keys[1]).to.equal('finance/^c!3a/^shares/^docs/cafe!cc!81.txt');
    expectRoundTrip(windowsFile('caf\u00e9.txt'));
    expectRoundTrip(windowsFile('cafe\u0301.txt'));
  });

  it('maps case-only differences apart', () => {
    const names = ['Report.pdf', 'report.pdf', 'REPORT.PDF', 'Émile.txt', 'émile.txt', 'ΣΑΣ.txt', 'σας.txt', 'straße', 'STRASSE', 'K', '\u212a'];
    const keys = names.map((name) => keyOf(posixFile(name)));

    expectDistinctEverywhere(keys);
    for (const key of keys) expect(key, key).to.equal(key.toLowerCase());
  });

  it('maps plus, space and percent apart', () => {
    const names = ['a b.txt', 'a+b.txt', '100%.csv', 'a%20b.txt', 'a%2Bb.txt'];
    const keys = names.map((name) => keyOf(windowsFile(name)));

    expectDistinctEverywhere(keys);
    for (const key of keys) {
      expect(key).not.to.match(/[+%]/);
      // A listing may URL-encode keys, with spaces as %20 or as +; both decode back.
      expect(decodeListedKey(encodeURIComponent(key))).to.equal(key);
      expect(decodeListedKey(encodeURIComponent(key).replaceAll('%20', '+'))).to.equal(key);
      expect(decodeURIComponent(encodeURIComponent(key))).to.equal(key);
    }
    expect(new Set(keys.map((key) => encodeURIComponent(key).replaceAll('%20', '+'))).size).to.equal(keys.length);
  });

  it('folds the long-path prefix', () => {
    expect(keyOf(windowsFile('a.txt', '\\\\?\\C:\\x\\y'))).to.equal(keyOf(windowsFile('a.txt', 'C:\\x\\y')));
    expect(keyOf(windowsFile('a.txt', '\\\\?\\UNC\\srv\\share\\x'))).to.equal(keyOf(windowsFile('a.txt', '\\\\srv\\share\\x')));
  });

  it('hashes over-long paths without collisions', () => {
    const deep = `C:\\${Array.from({ length: 240 }, (_, index) => `folder${index}x`).join('\\')}`;
    expect(deep.length).to.be.greaterThan(2400);
    const first = tier2KeyFor(windowsFile('Quarterly Report.pdf', deep));
    const second = tier2KeyFor(windowsFile('Quarterly Report.pdg', deep));
    const again = tier2KeyFor(windowsFile('Quarterly Report.pdf', deep));

    expect(first.hashed).to.equal(true);
    expect(first.key).to.equal(again.key);
    expect(first.key).not.to.equal(second.key);
    expect(first.key).to.match(/^finance\/!long\/[0-9a-f]{2}\/[0-9a-f]{64}-\^quarterly \^report\.pdf$/);
    expect(Buffer.byteLength(first.key)).to.be.at.most(1024);
    expect(first.fullKey.startsWith('finance/^c!3a/folder0x/')).to.equal(true);
    expect(parseTier2Key(first.key)).to.deep.equal({ kind: 'hashed', shareName: 'finance', sha256: first.key.split('/')[3]!.slice(0, 64) });
    expect(parseTier2Key(first.fullKey)).to.deep.equal({ kind: 'path', ...windowsFile('Quarterly Report.pdf', deep) });
    expectWindowsSafe(first.key);
    assertValidKey(first.key);
  });

  it('hashes keys over the byte limit', () => {
    const dirPath = `/srv/${'d'.repeat(200)}/${'e'.repeat(200)}/${'f'.repeat(200)}/${'g'.repeat(200)}`;
    const near = tier2KeyFor(posixFile('x'.repeat(150), dirPath));
    const over = tier2KeyFor(posixFile('x'.repeat(250), dirPath));

    expect(near.hashed).to.equal(false);
    expect(Buffer.byteLength(near.key)).to.be.at.most(1024);
    expect(over.hashed).to.equal(true);
    expect(Buffer.byteLength(over.fullKey)).to.be.greaterThan(1024);
    expect(tier2KeyFor(posixFile('x'.repeat(150), dirPath), { maxKeyBytes: 900 }).hashed).to.equal(true);
  });

  it('hashes segments over 255 bytes', () => {
    // 128 characters of é take 256 bytes raw and 768 encoded.
    const long = tier2KeyFor(posixFile(`${'\u00e9'.repeat(128)}.txt`));
    const short = tier2KeyFor(posixFile(`${'e'.repeat(250)}.txt`));

    expect(long.hashed).to.equal(true);
    expect(short.hashed).to.equal(false);
    expect(parseTier2Key(long.fullKey)).to.deep.equal({ kind: 'path', ...posixFile(`${'\u00e9'.repeat(128)}.txt`) });
  });

  it('leaves room for the store prefix', () => {
    const s3 = { kind: 's3', bucket: 'b', region: 'us-east-1', accessKeyId: 'a', secretAccessKey: 's', prefix: '/tenant/acme/' } as const;
    expect(tier2KeyOptionsFor(s3)).to.deep.equal({ maxKeyBytes: 1024 - 'tenant/acme/'.length });
    expect(tier2KeyOptionsFor({ kind: 'fs', root: '/mnt/tier2' })).to.deep.equal({ maxKeyBytes: 1024 });

    const name = 'n'.repeat(900);
    expect(tier2KeyFor(posixFile(name), tier2KeyOptionsFor({ kind: 'fs', root: '/x' })).hashed).to.equal(true);
    // 1,019 bytes: under 1,024 but over 1,024 less the 12-byte prefix.
    const dirPath = `/${'d'.repeat(200)}/${'e'.repeat(200)}/${'f'.repeat(200)}/${'g'.repeat(200)}`;
    const plain = tier2KeyFor(posixFile('x'.repeat(200), dirPath), tier2KeyOptionsFor({ kind: 'fs', root: '/x' }));
    const prefixed = tier2KeyFor(posixFile('x'.repeat(200), dirPath), tier2KeyOptionsFor(s3));
    expect(Buffer.byteLength(plain.key)).to.equal(1019);
    expect(plain.hashed).to.equal(false);
    expect(prefixed.hashed).to.equal(true);
  });

  it('gives every key the share prefix', () => {
    expect(keyOf(posixFile('a'))).to.satisfy((key: string) => key.startsWith(tier2SharePrefix('finance')));
    expect(tier2SharePrefix('Finance')).to.equal('^finance/');
    expect(tier2SharePrefix('C$')).to.equal('^c$/');
  });

  it('round-trips random names', () => {
    const keys = new Set<string>();
    const folded = new Set<string>();
    for (let index = 0; index < 3000; index++) {
      let bytes = randomBytes(1 + (index % 24));
      bytes = Buffer.from(bytes.filter((byte) => byte !== 0x2f && byte !== 0));
      if (bytes.length === 0 || bytes.toString('latin1') === '.' || bytes.toString('latin1') === '..') continue;
      const file = posixFile(encodeNameBytes(bytes).name, '/srv/x');

      const key = keyOf(file);
      assertValidKey(key);
      expectWindowsSafe(key);
      expect(parseTier2Key(key)).to.deep.equal({ kind: 'path', ...file });
      keys.add(key);
      folded.add(key.toUpperCase().normalize('NFC'));
    }
    expect(folded.size).to.equal(keys.size);
  });

  it('round-trips escaped folders', () => {
    expectRoundTrip(posixFile('a.txt', '/data//caf%E9/sub'));
    expectRoundTrip(posixFile('a.txt', '//caf%E9'));
    expectRoundTrip(posixFile('a.txt', '/'));
    expectRoundTrip(windowsFile('a.txt', 'C:\\data\\/caf%E9\\sub'));
    expectRoundTrip(windowsFile('a.txt', 'C:\\'));
    expectRoundTrip(windowsFile('a.txt', '\\\\srv\\share'));
  });

  it('keeps a POSIX path apart from a Windows one', () => {
    expect(keyOf(posixFile('a', '/C:/x'))).not.to.equal(keyOf(windowsFile('a', 'C:\\x')));
  });

  it('rejects unmappable files', () => {
    expect(() => keyOf(windowsFile('a.txt', 'relative\\path'))).to.throw(UnmappableFileError, 'drive');
    expect(() => keyOf(posixFile('a/b'))).to.throw(UnmappableFileError, 'one path segment');
    expect(() => keyOf(windowsFile('a\\b'))).to.throw(UnmappableFileError, 'one path segment');
    expect(() => keyOf(posixFile(''))).to.throw(UnmappableFileError);
    expect(() => keyOf(posixFile('/a%4'))).to.throw(UnmappableFileError);
  });
});

describe('parseTier2Key', () => {
  it('rejects keys no file maps to', () => {
    for (const key of ['finance', 'finance/!posix', 'finance/!posix/A.txt', 'finance/!posix/a!2E', 'finance/!posix/notes.', 'finance/!posix/%41', 'finance/!long/00/abc', 'finance/!posix/x/!4e']) {
      expect(() => parseTier2Key(key), key).to.throw(Error);
    }
  });
});

describe('encodeSegment', () => {
  it('decodes what it encodes', () => {
    for (const text of ['a', 'Ab', ' lead', 'trail.', '~1', '€ – ok', 'x!y^z', 'nul']) {
      const bytes = Buffer.from(text, 'utf8');
      expect(Buffer.from(decodeSegment(encodeSegment(bytes))).toString('utf8')).to.equal(text);
    }
    expect(encodeSegment(Buffer.from('REPORT~1.PDF'))).to.equal('^r^e^p^o^r^t!7e1.^p^d^f');
  });
});
