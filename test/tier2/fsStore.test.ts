import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { windowsSegmentProblem } from '../../src/tier2/objectKeys.ts';
import { RECORD_LOG_NAME } from '../../src/tier2/shaRecordLog.ts';
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

    expect(await readdir(path.join(root, 'share', 'a b'))).to.have.members(['c.txt', RECORD_LOG_NAME]);
  });

  it('recreates a removed folder', async () => {
    await putBytes(store, 'share/gone/first.txt', Buffer.from('first'));
    await rm(path.join(root, 'share', 'gone'), { recursive: true });

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
    const live = path.join(root, 'share', '.strata~tmp-00000000000000cc');
    for (const file of [dead, live]) await writeFile(file, 'partial');
    await utimes(dead, overADayAgo, overADayAgo);

    // A new store sweeps each folder at its first put there, as a restarted agent would.
    const restarted = new FsStore(root);
    await putBytes(restarted, 'share/second.txt', Buffer.from('second'));

    expect(await readdir(path.join(root, 'share'))).to.have.members(['first.txt', 'second.txt', RECORD_LOG_NAME, '.strata~tmp-00000000000000cc']);
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

  for (const [label, torn] of [['empty', ''], ['torn', '{"name":"torn.txt","sha256":"ab']] as const) {
    it(`reads a log left ${label} as no SHA-256`, async () => {
      await putBytes(store, `share/${label}.txt`, Buffer.from('content kept'));
      // What a crash can leave of a log whose appends were never flushed.
      await writeFile(path.join(root, 'share', RECORD_LOG_NAME), torn);

      const head = await store.head(`share/${label}.txt`);
      expect(head?.sizeBytes).to.equal('content kept'.length);
      expect(head?.sha256).to.equal(undefined);
      expect(await store.readBack(`share/${label}.txt`)).to.include({ sizeBytes: 'content kept'.length });
    });
  }

  it('keeps records put after a torn line', async () => {
    const first = await putBytes(store, 'share/x.txt', Buffer.from('x'));
    await appendFile(path.join(root, 'share', RECORD_LOG_NAME), '{"name":"torn.txt","sha2');

    const second = await putBytes(store, 'share/y.txt', Buffer.from('y'));

    const fresh = new FsStore(root);
    expect((await fresh.head('share/x.txt'))?.sha256).to.equal(first);
    expect((await fresh.head('share/y.txt'))?.sha256).to.equal(second);
  });

  it('drops the SHA-256 after a touch', async () => {
    await putBytes(store, 'share/y.txt', Buffer.from('same size'));
    await utimes(path.join(root, 'share', 'y.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));

    expect((await store.head('share/y.txt'))?.sha256).to.equal(undefined);
  });

  it('keeps the SHA-256 across a move', async () => {
    const sha256 = await putBytes(store, 'share/m.txt', Buffer.from('moved'));
    await store.move('share/m.txt', 'quarantine/share/m.txt');

    expect((await store.head('quarantine/share/m.txt'))?.sha256).to.equal(sha256);
    expect(await store.head('share/m.txt')).to.equal(null);
    // The move leaves a deletion of the old name, so a file put back there by hand gets no SHA-256.
    const log = (await readFile(path.join(root, 'share', RECORD_LOG_NAME), 'utf8')).trim().split('\n');
    expect(JSON.parse(log.at(-1)!)).to.deep.equal({ name: 'm.txt' });
  });

  it('reads records of an earlier release', async () => {
    await mkdir(path.join(root, 'share'), { recursive: true });
    await writeFile(path.join(root, 'share', 'old.txt'), 'tiered before the logs');
    const stats = await stat(path.join(root, 'share', 'old.txt'), { bigint: true });
    const legacy = path.join(root, '.strata~sha256', 'share', 'old.txt');
    await mkdir(path.dirname(legacy), { recursive: true });
    const record = { sha256: 'a'.repeat(64), sizeBytes: Number(stats.size), mtimeNs: stats.mtimeNs.toString() };
    await writeFile(legacy, JSON.stringify(record));

    expect((await new FsStore(root).head('share/old.txt'))?.sha256).to.equal('a'.repeat(64));

    await new FsStore(root).delete('share/old.txt');
    expect(await readdir(path.dirname(legacy))).to.deep.equal([]);
  });

  it('sees records another store appended', async () => {
    const first = await putBytes(store, 'share/one.txt', Buffer.from('one'));
    expect((await store.head('share/one.txt'))?.sha256).to.equal(first);

    const second = await putBytes(new FsStore(root), 'share/two.txt', Buffer.from('two'));

    expect((await store.head('share/two.txt'))?.sha256).to.equal(second);
    expect((await store.head('share/one.txt'))?.sha256).to.equal(first);
  });

  it('rewrites a log of superseded lines', async () => {
    let last = '';
    for (let round = 0; round < 150; round++) {
      last = await putBytes(store, 'share/again.txt', Buffer.from(`version ${round}`));
    }
    await putBytes(store, 'share/other.txt', Buffer.from('other'));

    expect((await store.head('share/again.txt'))?.sha256).to.equal(last);

    const lines = (await readFile(path.join(root, 'share', RECORD_LOG_NAME), 'utf8')).trim().split('\n');
    expect(lines).to.have.length(2);
    expect((await store.head('share/again.txt'))?.sha256).to.equal(last);
    expect((await store.head('share/other.txt'))?.sizeBytes).to.equal(5);
    expect((await readdir(path.join(root, 'share'))).filter((name) => name.startsWith('.strata~tmp-'))).to.deep.equal([]);
  });

  it('reports a key under a file as a failure', async () => {
    await putBytes(store, 'share/file', Buffer.from('a file'));

    const error = await putBytes(store, 'share/file/below', Buffer.from('x')).catch((caught: unknown) => caught);
    expect((error as NodeJS.ErrnoException).code).to.be.oneOf(['EEXIST', 'ENOTDIR']);
    // The open failed, not the cleanup after it, whose error must not take its place.
    expect((error as NodeJS.ErrnoException).syscall).to.be.oneOf(['open', 'mkdir']);
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

  it('keeps records of overlapping lookups', async () => {
    const writer = new FsStore(root);
    const put = async (key: string) => {
      const body = Buffer.from(key);
      const sha256 = createHash('sha256').update(body).digest('hex');
      await writer.put(key, body, { sizeBytes: body.length, sha256 });
      return sha256;
    };
    for (let round = 0; round < 10; round++) {
      const keys = Array.from({ length: 10 }, (_, index) => `share/r${round}-${index}`);
      const sha256s = await Promise.all(keys.map(put));
      // The store reads the log once for each head, all at the same time, while another
      // store appends to it.
      const more = keys.map((key) => `${key}-more`);
      const [heads, moreSha256s] = await Promise.all([Promise.all(keys.map((key) => store.head(key))), Promise.all(more.map(put))]);
      const moreHeads = await Promise.all(more.map((key) => store.head(key)));

      expect(heads.map((head) => head?.sha256), `round ${round}`).to.deep.equal(sha256s);
      expect(moreHeads.map((head) => head?.sha256), `round ${round}, put during the heads`).to.deep.equal(moreSha256s);
    }
  });

  for (const metadataCalls of ['synchronous', 'thread-pool'] as const) {
    it(`keeps appends during a rewrite, ${metadataCalls}`, async () => {
      const tested = new FsStore(root, { metadataCalls });
      const body = Buffer.from('put during the lookup');
      const sha256 = createHash('sha256').update(body).digest('hex');
      const superseded = `${JSON.stringify({ name: 'old.txt', sha256: 'a'.repeat(64), sizeBytes: 1, mtimeNs: '1' })}\n`.repeat(150);
      // The head's lookup finds the log due for a rewrite. The put appends during that
      // lookup's read, at a point set by the turns it waits.
      for (let turns = 0; turns < 30; turns++) {
        await mkdir(path.join(root, `f${turns}`));
        await writeFile(path.join(root, `f${turns}`, RECORD_LOG_NAME), superseded);
        await writeFile(path.join(root, `f${turns}`, 'old.txt'), 'o');
        await Promise.all([
          tested.head(`f${turns}/old.txt`),
          (async () => {
            for (let turn = 0; turn < turns; turn++) await nextTurn();
            await tested.put(`f${turns}/new.txt`, body, { sizeBytes: body.length, sha256 });
          })(),
        ]);
      }

      const fresh = new FsStore(root, { metadataCalls });
      for (let turns = 0; turns < 30; turns++) {
        expect((await fresh.head(`f${turns}/new.txt`))?.sha256, `put after ${turns} turns`).to.equal(sha256);
      }
    });

    for (const operation of ['readBack', 'get'] as const) {
      it(`${operation} of a FIFO is missing, ${metadataCalls}`, async function () {
        if (process.platform === 'win32') this.skip();
        await mkdir(path.join(root, 'share'));
        execFileSync('mkfifo', [path.join(root, 'share', 'pipe')]);

        // A child process, because an open waiting for a writer on the main thread stops
        // this one, and one in the thread pool keeps the call from ever returning.
        const script = `import { FsStore } from ${JSON.stringify(new URL('../../src/tier2/fsStore.ts', import.meta.url).href)};
          const error = await new FsStore(${JSON.stringify(root)}, { metadataCalls: ${JSON.stringify(metadataCalls)} }).${operation}('share/pipe').catch((caught) => caught);
          process.stdout.write(String(error?.code));
          process.exit(0);`;
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let output = '';
        child.stdout.on('data', (data: Buffer) => (output += data.toString('utf8')));
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (...args) => resolve(args)));
        clearTimeout(timer);

        expect(signal, 'killed after waiting 10 s').to.equal(null);
        expect(code).to.equal(0);
        expect(output).to.equal('TIER2_NOT_FOUND');
      });
    }
  }
});
