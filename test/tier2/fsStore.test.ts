import { expect } from 'chai';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { windowsSegmentProblem } from '../../src/tier2/objectKeys.ts';
import { putBytes } from './storeContract.ts';

describe('FsStore', () => {
  let root: string;
  let store: FsStore;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-fsstore-'));
    store = new FsStore(root);
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('stores the object at its key', async () => {
    await putBytes(store, 'share/a b/c.txt', Buffer.from('content'));

    expect(await readdir(path.join(root, 'share', 'a b'))).to.deep.equal(['c.txt']);
  });

  it('recreates a removed folder', async () => {
    await putBytes(store, 'share/gone/first.txt', Buffer.from('first'));
    await rm(path.join(root, 'share', 'gone'), { recursive: true });
    await rm(path.join(root, '.strata~sha256', 'share', 'gone'), { recursive: true });

    const sha256 = await putBytes(store, 'share/gone/second.txt', Buffer.from('second'));
    expect((await store.head('share/gone/second.txt'))?.sha256).to.equal(sha256);
  });

  it('leaves no temporary file after a failed put', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(100));
        this.destroy(new Error('read failed'));
      },
    });
    await store.put('share/f.bin', failing, { sizeBytes: 200, sha256: '0'.repeat(64) }).catch(() => undefined);

    expect(await readdir(path.join(root, 'share'))).to.deep.equal([]);
  });

  it('sweeps temporary files of killed puts', async () => {
    await putBytes(store, 'share/first.txt', Buffer.from('makes the folders'));
    const overADayAgo = new Date(Date.now() - 25 * 60 * 60 * 1000);
    const dead = path.join(root, 'share', '.strata~tmp-00000000000000aa');
    const deadRecord = path.join(root, '.strata~sha256', 'share', '.strata~tmp-00000000000000bb');
    const live = path.join(root, 'share', '.strata~tmp-00000000000000cc');
    for (const file of [dead, deadRecord, live]) await writeFile(file, 'partial');
    await utimes(dead, overADayAgo, overADayAgo);
    await utimes(deadRecord, overADayAgo, overADayAgo);

    // A new store sweeps each folder at its first put there, as a restarted agent would.
    const restarted = new FsStore(root);
    await putBytes(restarted, 'share/second.txt', Buffer.from('second'));

    expect(await readdir(path.join(root, 'share'))).to.have.members(['first.txt', 'second.txt', '.strata~tmp-00000000000000cc']);
    expect(await readdir(path.join(root, '.strata~sha256', 'share'))).to.have.members(['first.txt', 'second.txt']);
  });

  it('lists no temporary files', async () => {
    await putBytes(store, 'share/kept.txt', Buffer.from('kept'));
    // What a crash between creating and renaming a temporary file leaves.
    await writeFile(path.join(root, 'share', '.strata~tmp-0123456789abcdef'), 'partial');

    const page = await store.list('', null);
    expect(page.objects.map((object) => object.key)).to.deep.equal(['share/kept.txt']);
  });

  it('drops the SHA-256 of a replaced file', async () => {
    const sha256 = await putBytes(store, 'share/x.txt', Buffer.from('original'));
    expect((await store.head('share/x.txt'))?.sha256).to.equal(sha256);

    // Replaced by another program: the record no longer matches size and mtime.
    await writeFile(path.join(root, 'share', 'x.txt'), 'changed by hand');
    const head = await store.head('share/x.txt');
    expect(head?.sizeBytes).to.equal('changed by hand'.length);
    expect(head?.sha256).to.equal(undefined);
  });

  for (const [label, torn] of [['empty', ''], ['torn', '{"sha256":"ab']] as const) {
    it(`reads a record left ${label} as no SHA-256`, async () => {
      await putBytes(store, `share/${label}.txt`, Buffer.from('content kept'));
      // What a crash can leave of a record that was renamed into place but never flushed.
      await writeFile(path.join(root, '.strata~sha256', 'share', `${label}.txt`), torn);

      const head = await store.head(`share/${label}.txt`);
      expect(head?.sizeBytes).to.equal('content kept'.length);
      expect(head?.sha256).to.equal(undefined);
      expect(await store.readBack(`share/${label}.txt`)).to.include({ sizeBytes: 'content kept'.length });
    });
  }

  it('drops the SHA-256 after a touch', async () => {
    await putBytes(store, 'share/y.txt', Buffer.from('same size'));
    await utimes(path.join(root, 'share', 'y.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));

    expect((await store.head('share/y.txt'))?.sha256).to.equal(undefined);
  });

  it('keeps the SHA-256 across a move', async () => {
    const sha256 = await putBytes(store, 'share/m.txt', Buffer.from('moved'));
    await store.move('share/m.txt', 'quarantine/share/m.txt');

    expect((await store.head('quarantine/share/m.txt'))?.sha256).to.equal(sha256);
    expect(await readdir(path.join(root, '.strata~sha256', 'share'))).to.deep.equal([]);
  });

  it('reports a key under a file as a failure', async () => {
    await putBytes(store, 'share/file', Buffer.from('a file'));

    const error = await putBytes(store, 'share/file/below', Buffer.from('x')).catch((caught: unknown) => caught);
    expect((error as NodeJS.ErrnoException).code).to.be.oneOf(['EEXIST', 'ENOTDIR']);
  });

  it('names Windows-unsafe segments', () => {
    for (const segment of ['notes.', 'notes ', 'CON', 'nul.tar.gz', 'Com1.log', 'aux .txt', 'a:b', 'what?', 'COM\u00b9']) {
      expect(windowsSegmentProblem(segment), segment).to.be.a('string');
    }
    for (const segment of ['notes', '.bashrc', 'console.log', 'com10', '^con', '!6eul.tar.gz', 'a b']) {
      expect(windowsSegmentProblem(segment), segment).to.equal(undefined);
    }
  });

  it('lists files with names no key may have', async () => {
    await putBytes(store, 'share/a.txt', Buffer.from('a'));
    await writeFile(path.join(root, 'share', 'back\\slash.txt'), 'written by another program');

    const page = await store.list('share/', null);
    expect(page.objects.map((object) => object.key)).to.deep.equal(['share/a.txt', 'share/back\\slash.txt']);
    expect(page.objects[1]!.sha256).to.equal(undefined);
  });
});
