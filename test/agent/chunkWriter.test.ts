import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chunkFileName, ChunkWriter, formatCsvRow, type ChunkFile } from '../../agent/chunkWriter.ts';
import type { FileRecord } from '../../agent/walk.ts';
import { gunzipText } from './support/csv.ts';

function record(name: string, overrides: Partial<FileRecord> = {}): FileRecord {
  return {
    dirPath: '/srv/share',
    name,
    sizeBytes: 42n,
    atimeUnix: 1_700_000_001n,
    mtimeUnix: 1_700_000_002n,
    ctimeUnix: 1_700_000_003n,
    fileId: 77n,
    attributes: undefined,
    ...overrides,
  };
}

describe('agent chunk writer', function () {
  let spoolDir: string;

  beforeEach(async function () {
    spoolDir = await mkdtemp(path.join(os.tmpdir(), 'strata-agent-chunks-'));
  });

  afterEach(async function () {
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('row quotes text and doubles quotes', function () {
    const row = formatCsvRow(record('say "hi", ok.txt', { dirPath: 'D:\\Shares\\x' }));

    expect(row).to.equal('"D:\\Shares\\x","say ""hi"", ok.txt",42,1700000001,1700000002,1700000003,77,\n');
  });

  it('row carries the offline bit of a stub', function () {
    const row = formatCsvRow(record('tiered.doc', { attributes: 0x1000 }));

    expect(row).to.equal('"/srv/share","tiered.doc",42,1700000001,1700000002,1700000003,77,4096\n');
  });

  it('row keeps sizes beyond 2^53 exact', function () {
    const row = formatCsvRow(record('huge.bin', { sizeBytes: 2n ** 60n + 1n }));

    expect(row).to.contain(',1152921504606846977,');
  });

  it('chunk file has exact header and LF endings', async function () {
    const chunks: ChunkFile[] = [];
    const writer = new ChunkWriter({ spoolDir, chunkRows: 10, onChunk: async (chunk) => void chunks.push(chunk) });

    await writer.add(record('a.txt'));
    await writer.add(record('line\nfeed.txt'));
    await writer.close();

    expect(chunks).to.have.length(1);
    const text = gunzipText(await readFile(chunks[0]!.path));
    expect(text).to.equal(
      'dir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix,frn,attributes\n' +
        '"/srv/share","a.txt",42,1700000001,1700000002,1700000003,77,\n' +
        '"/srv/share","line\nfeed.txt",42,1700000001,1700000002,1700000003,77,\n',
    );
    expect(text).not.to.contain('\r');
  });

  it('rows split at chunkRows with sequential names', async function () {
    const chunks: ChunkFile[] = [];
    const writer = new ChunkWriter({ spoolDir, chunkRows: 2, onChunk: async (chunk) => void chunks.push(chunk) });

    for (let i = 0; i < 5; i++) {
      await writer.add(record(`file-${i}.txt`));
    }
    await writer.close();

    expect(chunks.map((chunk) => [chunk.seq, chunk.rows])).to.deep.equal([[0, 2], [1, 2], [2, 1]]);
    expect(chunks.map((chunk) => path.basename(chunk.path))).to.deep.equal([
      'chunk-000000.csv.gz',
      'chunk-000001.csv.gz',
      'chunk-000002.csv.gz',
    ]);
    expect(writer.rowsWritten).to.equal(5);
    expect((await readdir(spoolDir)).filter((name) => name.endsWith('.part'))).to.deep.equal([]);
  });

  it('chunk is handed over only when complete', async function () {
    const seenOnDisk: string[][] = [];
    const writer = new ChunkWriter({
      spoolDir,
      chunkRows: 1,
      onChunk: async () => void seenOnDisk.push((await readdir(spoolDir)).sort()),
    });

    await writer.add(record('one.txt'));
    await writer.add(record('two.txt'));

    expect(seenOnDisk).to.deep.equal([[chunkFileName(0)], [chunkFileName(0), chunkFileName(1)]]);
  });

  it('abort removes the unfinished part file', async function () {
    const writer = new ChunkWriter({ spoolDir, chunkRows: 10, onChunk: async () => undefined });

    await writer.add(record('a.txt'));
    await writer.abort();

    expect(await readdir(spoolDir)).to.deep.equal([]);
  });

  it('rejects chunkRows below 1', function () {
    expect(() => new ChunkWriter({ spoolDir, chunkRows: 0, onChunk: async () => undefined })).to.throw(
      RangeError,
      'Invalid chunkRows 0',
    );
  });
});
