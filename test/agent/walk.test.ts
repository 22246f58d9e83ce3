import { expect } from 'chai';
import { lstatSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { ChunkWriter, CHUNK_HEADER, type ChunkFile } from '../../agent/chunkWriter.ts';
import { TreeWalker } from '../../agent/walk.ts';
import { captureLogger, WARN_LEVEL } from './support/captureLogger.ts';
import { readChunkFile } from './support/csv.ts';

/** A file the test created, as the scan should report it. */
interface ExpectedFile {
  dirPath: string;
  name: string;
  size: number;
  mtime: number;
}

/** Base of the modification times the test sets; each file gets its own second. */
const MTIME_BASE = 1_600_000_000;

/** Writes a file with a known size and times; the fraction checks that times round down. */
async function createFile(dirPath: string, name: string, index: number, expected: ExpectedFile[]): Promise<void> {
  const content = 'x'.repeat(index + 1);
  const mtime = MTIME_BASE + index;
  await writeFile(path.join(dirPath, name), content);
  await utimes(path.join(dirPath, name), mtime - 1000 + 0.75, mtime + 0.75);
  expected.push({ dirPath, name, size: content.length, mtime });
}

/** Returns a sortable key that compares the four fields exactly. */
function fileKey(file: ExpectedFile): string {
  return JSON.stringify([file.dirPath, file.name, file.size, file.mtime]);
}

/** Walks `root` into chunk files in `spoolDir` and returns the chunks and the walker. */
async function scanIntoSpool(root: string, spoolDir: string, chunkRows: number) {
  const { logger, records } = captureLogger();
  const walker = new TreeWalker(root, { logger });
  const chunks: ChunkFile[] = [];
  const writer = new ChunkWriter({ spoolDir, chunkRows, onChunk: async (chunk) => void chunks.push(chunk) });

  for await (const record of walker.walk()) {
    await writer.add(record);
  }
  await writer.close();
  return { walker, writer, chunks, records };
}

describe('agent walk and chunk writer', function () {
  let workDir: string;
  let root: string;
  let spoolDir: string;

  beforeEach(async function () {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-agent-walk-'));
    root = path.join(workDir, 'share');
    spoolDir = path.join(workDir, 'spool');
    await mkdir(root);
    await mkdir(spoolDir);
  });

  afterEach(async function () {
    // A folder left at mode 000 by a failed test could not be removed otherwise.
    await chmod(path.join(root, 'locked'), 0o755).catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  });

  it('round trip keeps every file byte-exact', async function () {
    const expected: ExpectedFile[] = [];
    const nfc = 'caf\u00e9.txt';
    const nfd = 'cafe\u0301.txt';
    expect(nfc).not.to.equal(nfd);

    const unicodeDir = path.join(root, 'unicode');
    const deepDir = path.join(root, 'level 1', 'level, 2', 'level "3"', 'level4');
    await mkdir(unicodeDir);
    await mkdir(deepDir, { recursive: true });

    const files: Array<[string, string]> = [
      [root, 'plain.txt'],
      [root, 'with space, and comma.txt'],
      [root, 'say "hi".txt'],
      [root, 'line\nfeed.txt'],
      [root, ' leading and trailing space '],
      [unicodeDir, nfc],
      [unicodeDir, nfd],
      [unicodeDir, '\u6f22\u5b57\u30d5\u30a1\u30a4\u30eb.txt'],
      [unicodeDir, 'emoji \u{1F600}.txt'],
      [path.join(root, 'level 1'), 'one.txt'],
      [path.join(root, 'level 1', 'level, 2'), 'two.txt'],
      [deepDir, 'deep.txt'],
      [deepDir, 'deep "quoted", name.txt'],
    ];
    for (const [index, [dirPath, name]] of files.entries()) {
      await createFile(dirPath, name, index, expected);
    }

    // Neither link may be followed: the folder link would repeat the whole deep subtree.
    await symlink(path.join(root, 'level 1'), path.join(root, 'link-to-folder'), 'dir');
    await symlink(path.join(root, 'plain.txt'), path.join(root, 'link-to-file'), 'file');

    const { walker, chunks } = await scanIntoSpool(root, spoolDir, 3);

    expect(walker.counters.files).to.equal(files.length);
    expect(walker.counters.skipped).to.equal(2);
    expect(walker.counters.unreadable).to.equal(0);
    expect(walker.counters.dirs).to.equal(6);
    expect(chunks.map((chunk) => chunk.seq)).to.deep.equal([0, 1, 2, 3, 4]);

    const spoolFiles = (await readdir(spoolDir)).sort();
    expect(spoolFiles).to.deep.equal([0, 1, 2, 3, 4].map((seq) => `chunk-00000${seq}.csv.gz`));

    const scanned: ExpectedFile[] = [];
    for (const chunk of chunks) {
      const [header, ...rows] = await readChunkFile(chunk.path);
      expect(header!.values.join(',')).to.equal(CHUNK_HEADER);
      expect(rows.length).to.be.at.most(3);
      expect(rows.length).to.equal(chunk.rows);

      for (const row of rows) {
        expect(row.quoted).to.deep.equal([true, true, false, false, false, false, false, false]);
        const [dirPath, name, size, atime, mtime, ctime] = row.values as [string, string, string, string, string, string];
        scanned.push({ dirPath, name, size: Number(size), mtime: Number(mtime) });

        expect(Number(atime)).to.equal(Number(mtime) - 1000);
        const ctimeNs = lstatSync(path.join(dirPath, name), { bigint: true }).ctimeNs;
        expect(ctime).to.equal((ctimeNs / 1_000_000_000n).toString());
      }
    }

    expect(scanned.map(fileKey).sort()).to.deep.equal(expected.map(fileKey).sort());
  });

  it('root files use the resolved root as dir_path', async function () {
    const expected: ExpectedFile[] = [];
    await createFile(root, 'top.txt', 0, expected);
    const relativeRoot = path.relative(process.cwd(), root);

    const { walker, chunks } = await scanIntoSpool(relativeRoot, spoolDir, 10);

    expect(walker.root).to.equal(root);
    const [, row] = await readChunkFile(chunks[0]!.path);
    expect(row!.values[0]).to.equal(root);
  });

  it('empty tree writes no chunk', async function () {
    const { walker, writer, chunks } = await scanIntoSpool(root, spoolDir, 3);

    expect(walker.counters.dirs).to.equal(1);
    expect(walker.counters.files).to.equal(0);
    expect(writer.chunksWritten).to.equal(0);
    expect(chunks).to.deep.equal([]);
    expect(await readdir(spoolDir)).to.deep.equal([]);
  });

  it('unreadable folder counted, not fatal', async function () {
    if (process.getuid?.() === 0) {
      // The root user bypasses permission bits, so chmod 000 does not make the folder unreadable.
      this.skip();
    }
    if (process.platform === 'win32') {
      // chmod cannot remove read access on Windows.
      this.skip();
    }
    const expected: ExpectedFile[] = [];
    await createFile(root, 'visible.txt', 0, expected);
    const locked = path.join(root, 'locked');
    await mkdir(locked);
    await createFile(locked, 'hidden.txt', 1, []);
    await chmod(locked, 0o000);

    const { walker, chunks, records } = await scanIntoSpool(root, spoolDir, 10);

    expect(walker.counters.unreadable).to.equal(1);
    expect(walker.counters.files).to.equal(1);
    const rows = (await readChunkFile(chunks[0]!.path)).slice(1);
    expect(rows.map((row) => row.values[1])).to.deep.equal(['visible.txt']);
    expect(records.some((record) => record.path === locked && record.code === 'EACCES')).to.equal(true);
  });
});
