import { expect } from 'chai';
import { folderHash } from '../../src/ingest/folderHash.ts';
import { FolderHashRewriter } from '../../src/ingest/folderHashRewriter.ts';
import { canonicalFolder, folderPathProblem } from '../../src/ingest/folderPaths.ts';

/** Feed `csv` to a rewriter in pieces of `size` bytes; return its output and folders. */
function rewrite(csv: string, size: number): { output: string; folders: [string, number][]; rewriter: FolderHashRewriter } {
  const rewriter = new FolderHashRewriter();
  const bytes = Buffer.from(csv, 'utf8');
  const out: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) out.push(rewriter.rewrite(bytes.subarray(offset, offset + size)));
  out.push(rewriter.finish());
  const folders = [...rewriter.folders].map(([path, { line }]): [string, number] => [path, line]);
  return { output: Buffer.concat(out).toString('utf8'), folders, rewriter };
}

describe('FolderHashRewriter', () => {
  const csv =
    '\uFEFFdir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix\r\n' +
    '"C:\\a","x.txt",1,1,1,1\r\n' +
    '"C:\\a","line\nfeed, and ""quotes""",1,1,1,1\r\n' +
    '"C:\\b ""quoted"", with comma",y,1,1,1,1\r\n' +
    '"\\\\?\\C:\\a","z.txt",1,1,1,1\r\n' +
    'C:\\unquoted,w,1,1,1,1';

  it('finds distinct canonical folders with lines', () => {
    expect(rewrite(csv, 1 << 16).folders).to.deep.equal([
      ['C:\\a', 2],
      ['C:\\b "quoted", with comma', 5],
      ['C:\\unquoted', 7],
    ]);
  });

  it('replaces each path with its hash', () => {
    const a = folderHash('C:\\a');
    const b = folderHash('C:\\b "quoted", with comma');
    const unquoted = folderHash('C:\\unquoted');
    expect(rewrite(csv, 1 << 16).output).to.equal(
      '\uFEFFdir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix\r\n' +
        `${a},"x.txt",1,1,1,1\r\n` +
        `${a},"line\nfeed, and ""quotes""",1,1,1,1\r\n` +
        `${b},y,1,1,1,1\r\n` +
        `${a},"z.txt",1,1,1,1\r\n` +
        `${unquoted},w,1,1,1,1`,
    );
  });

  it('gives one result however the bytes are cut', () => {
    const whole = rewrite(csv, 1 << 16);
    for (const size of [1, 2, 3, 5, 7, 13, 64]) {
      const pieces = rewrite(csv, size);
      expect(pieces.folders, `pieces of ${size}`).to.deep.equal(whole.folders);
      expect(pieces.output, `pieces of ${size}`).to.equal(whole.output);
    }
  });

  it('reads dir_path wherever the header puts it', () => {
    const reordered = 'name,size_bytes,dir_path,atime_unix,mtime_unix,ctime_unix\n"a,b",1,"/srv/x",1,1,1\nc,2,/srv/y,1,1,1\n';
    const result = rewrite(reordered, 4);
    expect(result.folders).to.deep.equal([
      ['/srv/x', 2],
      ['/srv/y', 3],
    ]);
    expect(result.output).to.equal(
      `name,size_bytes,dir_path,atime_unix,mtime_unix,ctime_unix\n"a,b",1,${folderHash('/srv/x')},1,1,1\nc,2,${folderHash('/srv/y')},1,1,1\n`,
    );
  });

  it('maps lines back past folders with line feeds', () => {
    const multiline =
      'dir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix\n' +
      '/srv/x,a,1,1,1,1\n' +
      '"/srv/two\nlines",b,1,1,1,1\n' +
      '"/srv/two\nlines",c,1,1,1,1\n' +
      '"/srv/three\nmore\nlines",d,1,1,1,1\n' +
      '/srv/y,e,1,1,1,1\n';
    const { output, rewriter } = rewrite(multiline, 5);

    // Sent lines of the records a to e: 2, 3, 5, 7, 10. Rewritten: 2, 3, 4, 5, 6.
    expect(output.split('\n').length - 1).to.equal(6);
    expect([2, 3, 4, 5, 6].map((line) => rewriter.sentLine(line))).to.deep.equal([2, 3, 5, 7, 10]);
  });

  it('passes a header without dir_path through', () => {
    const headerless = 'name,size_bytes\nx,1\n';
    expect(rewrite(headerless, 3).output).to.equal(headerless);
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
