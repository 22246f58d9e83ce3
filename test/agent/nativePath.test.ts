import { expect } from 'chai';

import { decodeWireDirPath, readEntryName } from '../../agent/escapedName.ts';
import { childFsPath, childWalkDir, rootWalkDir, type WalkDir } from '../../agent/nativePath.ts';

const plain = (name: string) => readEntryName(name);

describe('native and wire paths', function () {
  it('win32 roots get the verbatim prefix', function () {
    const cases: Array<[string, string, string]> = [
      ['C:\\data', '\\\\?\\C:\\data', 'C:\\data'],
      ['C:\\data\\', '\\\\?\\C:\\data', 'C:\\data'],
      ['C:\\', '\\\\?\\C:\\', 'C:\\'],
      ['C:/data/share', '\\\\?\\C:\\data\\share', 'C:\\data\\share'],
      ['\\\\server\\share\\x', '\\\\?\\UNC\\server\\share\\x', '\\\\server\\share\\x'],
      ['\\\\?\\C:\\x\\', '\\\\?\\C:\\x', 'C:\\x'],
      ['\\\\?\\C:\\', '\\\\?\\C:\\', 'C:\\'],
      ['\\\\?\\UNC\\server\\share', '\\\\?\\UNC\\server\\share', '\\\\server\\share'],
      // Given verbatim, a root whose last segment ends in a dot keeps it.
      ['\\\\?\\C:\\notes.', '\\\\?\\C:\\notes.', 'C:\\notes.'],
    ];
    for (const [root, fsPath, wirePath] of cases) {
      expect(rootWalkDir(root, 'win32'), root).to.deep.equal({ fsPath, wirePath });
    }
  });

  it('win32 names appended verbatim', function () {
    const root = rootWalkDir('C:\\share', 'win32');
    const names = ['notes', 'notes.', 'notes ', 'notes..', ' notes', 'CON.txt', 'nul.tar.gz', 'con', 'AUX', 'COM1.log', 'a:b'];

    const children = names.map((name) => childWalkDir(root, plain(name), 'win32'));

    expect(children.map((child) => child.wirePath)).to.deep.equal(names.map((name) => `C:\\share\\${name}`));
    expect(children.map((child) => child.fsPath)).to.deep.equal(names.map((name) => `\\\\?\\C:\\share\\${name}`));
    expect(new Set(children.map((child) => child.wirePath)).size).to.equal(names.length);

    // Files use the same join as folders.
    expect(childFsPath(root.fsPath, plain('CON.txt'), 'win32')).to.equal('\\\\?\\C:\\share\\CON.txt');
  });

  it('win32 drive root joins without doubling', function () {
    const root = rootWalkDir('C:\\', 'win32');
    expect(childWalkDir(root, plain('x.'), 'win32')).to.deep.equal({ fsPath: '\\\\?\\C:\\x.', wirePath: 'C:\\x.' });
  });

  it('win32 path of 2,400 characters kept whole', function () {
    let dir: WalkDir = rootWalkDir('\\\\fileserver\\projects', 'win32');
    const segment = 'long folder name with spaces and a trailing dot.';
    const segments: string[] = [];
    while (dir.wirePath.length < 2400) {
      segments.push(segment);
      dir = childWalkDir(dir, plain(segment), 'win32');
    }

    expect(dir.wirePath.length).to.be.at.least(2400);
    expect(dir.wirePath).to.equal(['\\\\fileserver\\projects', ...segments].join('\\'));
    expect(dir.fsPath).to.equal(`\\\\?\\UNC\\fileserver\\projects\\${segments.join('\\')}`);
  });

  it('win32 escaped segments use raw bytes', function () {
    const root = rootWalkDir('C:\\data', 'win32');
    const cafe = readEntryName(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    const surrogate = readEntryName(Buffer.from([0x61, 0xed, 0xa0, 0x80]));

    const escapedDir = childWalkDir(root, cafe, 'win32');
    const sub = childWalkDir(escapedDir, plain('sub'), 'win32');
    const fileFsPath = childFsPath(sub.fsPath, surrogate, 'win32');

    expect(escapedDir.wirePath).to.equal('C:\\data\\/caf%E9');
    expect(sub.wirePath).to.equal('C:\\data\\/caf%E9\\sub');
    expect(sub.fsPath).to.deep.equal(Buffer.concat([Buffer.from('\\\\?\\C:\\data\\caf'), Buffer.from([0xe9]), Buffer.from('\\sub')]));
    expect(fileFsPath).to.deep.equal(
      Buffer.concat([Buffer.from('\\\\?\\C:\\data\\caf'), Buffer.from([0xe9]), Buffer.from('\\sub\\a'), Buffer.from([0xed, 0xa0, 0x80])]),
    );

    // The server can recover the native bytes of the folder from the wire form alone.
    expect(Buffer.from(decodeWireDirPath(sub.wirePath, 'windows'))).to.deep.equal(
      Buffer.concat([Buffer.from('C:\\data\\caf'), Buffer.from([0xe9]), Buffer.from('\\sub')]),
    );
  });

  it('posix paths keep names and mark escaped segments', function () {
    const root = rootWalkDir('/srv/share/', 'linux');
    expect(root).to.deep.equal({ fsPath: '/srv/share', wirePath: '/srv/share' });

    const escaped = childWalkDir(root, readEntryName(Buffer.from([0x63, 0x61, 0x66, 0xe9])), 'linux');
    const sub = childWalkDir(escaped, plain('notes.'), 'linux');

    expect(sub.wirePath).to.equal('/srv/share//caf%E9/notes.');
    expect(sub.fsPath).to.deep.equal(Buffer.concat([Buffer.from('/srv/share/caf'), Buffer.from([0xe9]), Buffer.from('/notes.')]));
    expect(Buffer.from(decodeWireDirPath(sub.wirePath, 'posix'))).to.deep.equal(sub.fsPath);
    expect(childWalkDir(rootWalkDir('/', 'linux'), plain('etc'), 'linux').wirePath).to.equal('/etc');
  });
});
