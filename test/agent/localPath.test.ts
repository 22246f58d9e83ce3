import { expect } from 'chai';

import { resolveLocalFile, tempPathFor } from '../../agent/tiering/localPath.ts';

describe('agent local path of a claim', function () {
  it('POSIX plain name joins folder', function () {
    const file = resolveLocalFile('/srv/docs', 'a b.txt', 'linux');

    expect(file.path).to.equal('/srv/docs/a b.txt');
    expect(file.folder).to.equal('/srv/docs');
  });

  it('POSIX escaped name gives raw bytes', function () {
    const file = resolveLocalFile('/data//caf%E9', '/n%FF.txt', 'linux');

    expect(Buffer.isBuffer(file.path)).to.equal(true);
    expect((file.path as Buffer).equals(Buffer.from([...Buffer.from('/data/caf'), 0xe9, 0x2f, 0x6e, 0xff, ...Buffer.from('.txt')]))).to.equal(true);
  });

  it('Windows drive path gets verbatim prefix', function () {
    const file = resolveLocalFile('C:\\Shares\\x', 'notes.', 'win32');

    expect(file.path).to.equal('\\\\?\\C:\\Shares\\x\\notes.');
  });

  it('Windows device name stays a file', function () {
    const file = resolveLocalFile('D:\\', 'CON.txt', 'win32');

    expect(file.path).to.equal('\\\\?\\D:\\CON.txt');
  });

  it('Windows UNC path gets UNC prefix', function () {
    const file = resolveLocalFile('\\\\srv\\share\\dept', 'a.doc', 'win32');

    expect(file.path).to.equal('\\\\?\\UNC\\srv\\share\\dept\\a.doc');
  });

  it('temporary name stays beside the file', function () {
    const file = resolveLocalFile('/srv/docs', 'x'.repeat(250), 'linux');

    expect(tempPathFor(file, 'stub', 'linux')).to.match(/^\/srv\/docs\/\.strata-stub-[0-9a-f]{16}\.tmp$/);
    expect(tempPathFor(file, 'recall', 'linux')).to.match(/^\/srv\/docs\/\.strata-recall-[0-9a-f]{16}\.tmp$/);
  });
});
