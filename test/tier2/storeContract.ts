import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { InvalidTier2KeyError, Tier2ContentMismatchError, Tier2NotFoundError } from '../../src/tier2/errors.ts';
import type { Tier2Object, Tier2Store } from '../../src/tier2/tier2Store.ts';

export interface ContractOptions {
  /** Keys whose move the store cannot do on this emulator, with the reason, skipped in the move test. */
  unmovable?: { pattern: RegExp; reason: string };
  /**
   * Why the emulator lists in an order of its own rather than by UTF-8 bytes as S3 does.
   * The tests then check the set of keys listed.
   */
  unorderedListing?: string;
}

/** Bytes and their SHA-256. */
export function content(size: number): { bytes: Buffer; sha256: string } {
  const bytes = randomBytes(size);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Stream `bytes` in pieces of uneven sizes, as a file read would. */
export function streamOf(bytes: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0, step = 1; offset < bytes.length; offset += step, step = (step * 7 + 13) % 300_000 || 1) {
    pieces.push(bytes.subarray(offset, offset + step));
  }
  return Readable.from(pieces);
}

export async function putBytes(store: Tier2Store, key: string, bytes: Buffer): Promise<string> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await store.put(key, streamOf(bytes), { sizeBytes: bytes.length, sha256 });
  return sha256;
}

export async function listAll(store: Tier2Store, prefix: string, pageSize?: number): Promise<{ objects: Tier2Object[]; pages: number }> {
  const objects: Tier2Object[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const page = await store.list(prefix, token, pageSize);
    objects.push(...page.objects);
    token = page.nextToken;
    pages++;
  } while (token !== null && pages < 1000);
  return { objects, pages };
}

/**
 * The behaviour every Tier-2 store must share. `open` is called once before the tests;
 * each test uses keys of its own, so the tests share one store.
 */
export function describeStoreContract(label: string, open: () => Promise<{ store: Tier2Store; stop(): Promise<void> }>, options: ContractOptions = {}): void {
  describe(`${label} store contract`, function () {
    this.timeout(120_000);
    let store: Tier2Store;
    let stop: () => Promise<void>;

    before(async () => {
      ({ store, stop } = await open());
    });

    /** Return the keys as listed, or sorted by bytes where the emulator's order is its own. */
    function inListOrder(keys: string[]): string[] {
      if (!options.unorderedListing) return keys;
      return [...keys].sort((left, right) => Buffer.compare(Buffer.from(left), Buffer.from(right)));
    }
    after(async () => stop?.());

    for (const size of [0, 1, 65_537, 5 * 1024 * 1024 + 3, 9 * 1024 * 1024 + 7]) {
      it(`put, head and get ${size} bytes`, async () => {
        const { bytes, sha256 } = content(size);
        const key = `sizes/object-${size}.bin`;
        await store.put(key, streamOf(bytes), { sizeBytes: size, sha256 });

        const head = await store.head(key);
        expect(head?.key).to.equal(key);
        expect(head?.sizeBytes).to.equal(size);
        expect(head?.sha256).to.equal(sha256);
        const read = await buffer(await store.get(key));
        expect(read.length).to.equal(size);
        expect(read.equals(bytes)).to.equal(true);
      });
    }

    it('head of a missing key is null', async () => {
      expect(await store.head('missing/nothing-here.txt')).to.equal(null);
    });

    it('get of a missing key is not found', async () => {
      const error = await store.get('missing/nothing-here.txt').then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).to.be.instanceOf(Tier2NotFoundError);
      expect((error as Tier2NotFoundError).key).to.equal('missing/nothing-here.txt');
    });

    for (const size of [0, 1, 5 * 1024 * 1024 + 3]) {
      it(`put of a ${size}-byte Buffer and its readBack`, async () => {
        const { bytes, sha256 } = content(size);
        await store.put(`buffer/${size}.bin`, bytes, { sizeBytes: size, sha256 });

        expect(await store.readBack(`buffer/${size}.bin`)).to.deep.equal({ sizeBytes: size, sha256 });
        expect((await store.head(`buffer/${size}.bin`))?.sha256).to.equal(sha256);
      });
    }

    it('readBack sees replaced content', async () => {
      const { bytes, sha256 } = content(4096);
      await store.put('buffer/changed.bin', bytes, { sizeBytes: bytes.length, sha256 });
      const other = content(4096);
      await store.put('buffer/changed.bin', other.bytes, { sizeBytes: other.bytes.length, sha256: other.sha256 });

      expect((await store.readBack('buffer/changed.bin')).sha256).to.equal(other.sha256).and.not.equal(sha256);
    });

    it('readBack of a missing key is not found', async () => {
      const error = await store.readBack('missing/nothing-to-read.txt').catch((caught: unknown) => caught);
      expect(error).to.be.instanceOf(Tier2NotFoundError);
    });

    it('Buffer of wrong size stores nothing', async () => {
      const { bytes, sha256 } = content(1000);
      const error = await store.put('mismatch/buffer.bin', bytes, { sizeBytes: 1001, sha256 }).catch((caught: unknown) => caught);

      expect(error).to.be.instanceOf(Tier2ContentMismatchError);
      expect(await store.head('mismatch/buffer.bin')).to.equal(null);
    });

    it('put replaces a leftover object', async () => {
      await putBytes(store, 'replace/file.txt', Buffer.from('first attempt, partly copied'));
      const second = Buffer.from('second attempt');
      const sha256 = await putBytes(store, 'replace/file.txt', second);

      expect((await buffer(await store.get('replace/file.txt'))).toString()).to.equal('second attempt');
      expect((await store.head('replace/file.txt'))?.sha256).to.equal(sha256);
      expect((await listAll(store, 'replace/')).objects.map((object) => object.key)).to.deep.equal(['replace/file.txt']);
    });

    it('put with a wrong SHA-256 stores nothing', async () => {
      const { bytes } = content(1000);
      const error = await store.put('mismatch/file.bin', streamOf(bytes), { sizeBytes: 1000, sha256: '0'.repeat(64) }).catch((caught: unknown) => caught);

      expect(error).to.be.instanceOf(Tier2ContentMismatchError);
      expect(await store.head('mismatch/file.bin')).to.equal(null);
      expect((await listAll(store, 'mismatch/')).objects).to.deep.equal([]);
    });

    it('put with a wrong size stores nothing', async () => {
      const { bytes, sha256 } = content(1000);
      const error = await store.put('mismatch/size.bin', streamOf(bytes), { sizeBytes: 999, sha256 }).catch((caught: unknown) => caught);

      expect(error).to.be.instanceOf(Tier2ContentMismatchError);
      expect(await store.head('mismatch/size.bin')).to.equal(null);
    });

    it('put of a failing body stores nothing', async () => {
      const failing = new Readable({
        read() {
          this.push(Buffer.alloc(1000, 1));
          this.destroy(new Error('source read failed'));
        },
      });
      const error = await store.put('failing/file.bin', failing, { sizeBytes: 5000, sha256: '1'.repeat(64) }).catch((caught: unknown) => caught);

      expect(error).to.be.instanceOf(Error);
      expect(await store.head('failing/file.bin')).to.equal(null);
      expect((await listAll(store, 'failing/')).objects).to.deep.equal([]);
    });

    it('list pages through a prefix in key order', async () => {
      // A key cannot be both an object and a folder in the filesystem store, so no key here
      // is a prefix of another at a '/'.
      const keys = ['pages/a-b', 'pages/a/b', 'pages/a0', 'pages/b/c/d', 'pages/b0', 'pages/z', 'pages/é', 'pages/日本'];
      for (const key of [...keys].reverse()) await putBytes(store, key, Buffer.from(key));
      await putBytes(store, 'pagesX/outside', Buffer.from('x'));

      const { objects, pages } = await listAll(store, 'pages/', 3);
      const expected = [...keys].sort((left, right) => Buffer.compare(Buffer.from(left), Buffer.from(right)));
      expect(inListOrder(objects.map((object) => object.key))).to.deep.equal(expected);
      expect(pages).to.equal(3);
      expect(objects.find((object) => object.key === 'pages/b/c/d')?.sizeBytes).to.equal('pages/b/c/d'.length);
    });

    it('list matches a prefix inside a segment', async () => {
      for (const key of ['partial/ab1', 'partial/ab/2', 'partial/abc/3', 'partial/a/4', 'partial/b']) await putBytes(store, key, Buffer.from(key));

      const { objects } = await listAll(store, 'partial/ab');
      expect(inListOrder(objects.map((object) => object.key))).to.deep.equal(['partial/ab/2', 'partial/ab1', 'partial/abc/3']);
    });

    it('list of an absent prefix is empty', async () => {
      expect(await store.list('absent/', null)).to.deep.equal({ objects: [], nextToken: null });
    });

    it('delete is idempotent', async () => {
      await putBytes(store, 'delete/file.txt', Buffer.from('to delete'));

      await store.delete('delete/file.txt');
      expect(await store.head('delete/file.txt')).to.equal(null);
      await store.delete('delete/file.txt');
      await store.delete('delete/never-existed.txt');
      expect((await listAll(store, 'delete/')).objects).to.deep.equal([]);
    });

    it('move is idempotent', async () => {
      const sha256 = await putBytes(store, 'move/from/file.txt', Buffer.from('moving'));

      await store.move('move/from/file.txt', 'quarantine/move/file.txt');
      expect(await store.head('move/from/file.txt')).to.equal(null);
      const moved = await store.head('quarantine/move/file.txt');
      expect(moved?.sha256).to.equal(sha256);
      expect((await buffer(await store.get('quarantine/move/file.txt'))).toString()).to.equal('moving');

      await store.move('move/from/file.txt', 'quarantine/move/file.txt');
      expect((await store.head('quarantine/move/file.txt'))?.sizeBytes).to.equal(6);
    });

    it('move of a missing key is not found', async () => {
      const error = await store.move('move/none.txt', 'quarantine/none.txt').catch((caught: unknown) => caught);
      expect(error).to.be.instanceOf(Tier2NotFoundError);
    });

    it('move replaces an object at the target', async () => {
      await putBytes(store, 'move2/new.txt', Buffer.from('new'));
      await putBytes(store, 'move2/old.txt', Buffer.from('older content'));

      await store.move('move2/new.txt', 'move2/old.txt');
      expect((await buffer(await store.get('move2/old.txt'))).toString()).to.equal('new');
      expect((await listAll(store, 'move2/')).objects.map((object) => object.key)).to.deep.equal(['move2/old.txt']);
    });

    const awkwardNames = [
      'a b.txt',
      'a+b.txt',
      '100%.csv',
      '%41.txt',
      'caf\u00e9.txt',
      'cafe\u0301.txt',
      'Case.txt',
      'case.txt',
      'CASE.TXT',
      "it's & $@=;:, (1).txt",
      '#hash?.txt',
      '日本語 ファイル.txt',
      'emoji 😀.txt',
      'trailing dot.',
      'trailing space ',
      ' leading space',
    ];

    it('keeps awkward names distinct', async () => {
      for (const name of awkwardNames) await putBytes(store, `names/${name}`, Buffer.from(`content of ${name}`));

      const { objects } = await listAll(store, 'names/', 5);
      const listed = inListOrder(objects.map((object) => object.key));
      const expected = awkwardNames.map((name) => `names/${name}`).sort((left, right) => Buffer.compare(Buffer.from(left), Buffer.from(right)));
      expect(listed).to.deep.equal(expected);
      for (const name of awkwardNames) {
        expect((await buffer(await store.get(`names/${name}`))).toString(), name).to.equal(`content of ${name}`);
        expect((await store.head(`names/${name}`))?.sizeBytes, name).to.equal(Buffer.byteLength(`content of ${name}`));
      }
    });

    it('moves awkward names', async () => {
      for (const name of awkwardNames) {
        if (options.unmovable?.pattern.test(name)) continue;
        await putBytes(store, `movenames/${name}`, Buffer.from(name));
        await store.move(`movenames/${name}`, `movedback/${name}`);
        expect((await buffer(await store.get(`movedback/${name}`))).toString(), name).to.equal(name);
        expect(await store.head(`movenames/${name}`), name).to.equal(null);
      }
    });

    it('keeps the full key of a hashed key', async () => {
      const fullKey = `share/^c!3a/${'folder/'.repeat(150)}report.pdf`;
      const { bytes, sha256 } = content(10);
      await store.put('hashed/ab/abcdef-report.pdf', streamOf(bytes), { sizeBytes: 10, sha256, fullKey });

      expect((await store.head('hashed/ab/abcdef-report.pdf'))?.fullKey).to.equal(fullKey);
    });

    it('leaves out a full key too long to keep', async () => {
      const fullKey = Array.from({ length: 2000 }, (_, index) => `segment-${index * 7919}`).join('/');
      const { bytes, sha256 } = content(10);
      await store.put('hashed/cd/cdef-long.pdf', streamOf(bytes), { sizeBytes: 10, sha256, fullKey });

      const head = await store.head('hashed/cd/cdef-long.pdf');
      expect(head?.sha256).to.equal(sha256);
      expect(head?.fullKey === undefined || head.fullKey === fullKey).to.equal(true);
    });

    it('rejects invalid page sizes', async () => {
      for (const pageSize of [0, -1, 1.5, 1001]) {
        const error = await store.list('', null, pageSize).catch((caught: unknown) => caught);
        expect(error, String(pageSize)).to.be.instanceOf(RangeError);
      }
    });

    it('rejects invalid keys', async () => {
      for (const key of ['', '/lead', 'trail/', 'a//b', '../up', 'a/./b', 'back\\slash', 'nul\u0000byte', '.strata~sha256/x']) {
        const error = await store.head(key).catch((caught: unknown) => caught);
        expect(error, JSON.stringify(key)).to.be.instanceOf(InvalidTier2KeyError);
      }
    });
  });
}
