import { expect } from 'chai';
import { FolderCollector } from '../../src/ingest/folderCollector.ts';
import { canonicalFolder, folderPathProblem } from '../../src/ingest/folderPaths.ts';

/** Feed `csv` to a collector in pieces of `size` bytes and return its folders. */
function collect(csv: string, size: number): [string, number][] {
  const collector = new FolderCollector();
  const bytes = Buffer.from(csv, 'utf8');
  for (let offset = 0; offset < bytes.length; offset += size) collector.addBytes(bytes.subarray(offset, offset + size));
  collector.finish();
  return [...collector.folders];
}

describe('FolderCollector', () => {
  const csv =
    '\uFEFFdir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix\r\n' +
    '"C:\\a","x.txt",1,1,1,1\r\n' +
    '"C:\\a","line\nfeed, and ""quotes""",1,1,1,1\r\n' +
    '"C:\\b ""quoted"", with comma",y,1,1,1,1\r\n' +
    '"\\\\?\\C:\\a","z.txt",1,1,1,1\r\n' +
    'C:\\unquoted,w,1,1,1,1';

  it('finds each distinct folder once, canonical, with the line it first appears on', () => {
    expect(collect(csv, 1 << 16)).to.deep.equal([
      ['C:\\a', 2],
      ['C:\\b "quoted", with comma', 5],
      ['C:\\unquoted', 7],
    ]);
  });

  it('gives the same result for every way of cutting the bytes', () => {
    const whole = collect(csv, 1 << 16);
    for (const size of [1, 2, 3, 5, 7, 13, 64]) expect(collect(csv, size), `pieces of ${size}`).to.deep.equal(whole);
  });

  it('reads dir_path wherever the header puts it', () => {
    const reordered = 'name,size_bytes,dir_path,atime_unix,mtime_unix,ctime_unix\n"a,b",1,"/srv/x",1,1,1\nc,2,/srv/y,1,1,1\n';
    expect(collect(reordered, 4)).to.deep.equal([
      ['/srv/x', 2],
      ['/srv/y', 3],
    ]);
  });
});

describe('folder paths', () => {
  it('folds the Win32 long-path prefixes', () => {
    expect(canonicalFolder('\\\\?\\C:\\x')).to.equal('C:\\x');
    expect(canonicalFolder('\\\\?\\UNC\\srv\\share\\x')).to.equal('\\\\srv\\share\\x');
    expect(canonicalFolder('/srv/x')).to.equal('/srv/x');
  });

  it('accepts canonical folders, escaped segments included', () => {
    for (const path of ['C:\\', 'C:\\x', '\\\\srv\\share', '\\\\srv\\share\\x y', 'C:\\data\\/caf%E9']) {
      expect(folderPathProblem(path, 'windows'), path).to.equal(undefined);
    }
    for (const path of ['/', '/srv', '/srv/x y', '/data//caf%E9/sub', '//caf%E9']) {
      expect(folderPathProblem(path, 'posix'), path).to.equal(undefined);
    }
  });

  it('rejects folders that are not canonical', () => {
    for (const path of ['x', 'C:', 'C:x', 'C:\\x\\', 'C:\\x\\\\y', 'C:\\x\\.\\y', 'C:\\x\\..', 'C:\\x/y', '\\\\srv', '\\\\srv\\']) {
      expect(folderPathProblem(path, 'windows'), path).to.be.a('string');
    }
    for (const path of ['srv', '/srv/', '/srv///x', '/srv/./x', '/srv/..']) {
      expect(folderPathProblem(path, 'posix'), path).to.be.a('string');
    }
  });
});
