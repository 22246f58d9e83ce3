import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { decodeName, decodeWireDirPath } from '../../agent/escapedName.ts';
import { TreeWalker, type FileRecord, type StatMode } from '../../agent/walk.ts';
import { captureLogger, WARN_LEVEL } from './support/captureLogger.ts';

async function walkAll(root: string, statMode: StatMode) {
  const { logger, records: logs } = captureLogger();
  const walker = new TreeWalker(root, { logger, statMode });
  const records: FileRecord[] = [];
  for await (const batch of walker.walkBatches()) {
    expect(batch.length).to.be.greaterThan(0);
    records.push(...batch);
  }
  return { walker, records, logs };
}

function bytePath(...parts: Array<string | number[]>): Buffer {
  return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))));
}

for (const statMode of ['sync', 'parallel'] as const) {
  describe(`agent walk hard inputs (${statMode})`, function () {
    let root: string;

    beforeEach(async function () {
      root = await mkdtemp(path.join(os.tmpdir(), 'strata-agent-hard-'));
    });

    afterEach(async function () {
      await rm(root, { recursive: true, force: true });
    });

    it('names not valid UTF-8 sent escaped', async function () {
      if (process.platform !== 'linux') {
        // Windows and macOS file systems store names as Unicode and reject such names.
        this.skip();
      }
      const cafeFolder = [0x63, 0x61, 0x66, 0xe9];
      const fileNames: number[][] = [
        [0x62, 0x61, 0x64, 0x2d, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74],
        // WTF-8 forms of U+D800 and U+DC00 after "n": two distinct names.
        [0x6e, 0xed, 0xa0, 0x80],
        [0x6e, 0xed, 0xb0, 0x80],
        [0x31, 0x30, 0x30, 0x25, 0xe9],
      ];
      await writeFile(path.join(root, 'good.txt'), 'g');
      await writeFile(path.join(root, '\uFFFD real replacement character.txt'), 'r');
      for (const name of fileNames) {
        await writeFile(bytePath(`${root}/`, name), 'x');
      }
      await mkdir(bytePath(`${root}/`, cafeFolder, '/sub'), { recursive: true });
      await writeFile(bytePath(`${root}/`, cafeFolder, '/sub/inner.txt'), 'inner');
      await writeFile(bytePath(`${root}/`, cafeFolder, '/', [0xe9]), 'e');

      const { walker, records, logs } = await walkAll(root, statMode);

      expect(walker.counters.files).to.equal(8);
      expect(walker.counters.escaped).to.equal(6);
      expect(walker.counters.unreadable).to.equal(0);

      const rows = records.map((record) => `${record.dirPath}|${record.name}`).sort();
      expect(rows).to.deep.equal(
        [
          `${root}|good.txt`,
          `${root}|\uFFFD real replacement character.txt`,
          `${root}|/bad-%FF%FE.txt`,
          `${root}|/n%ED%A0%80`,
          `${root}|/n%ED%B0%80`,
          `${root}|/100%25%E9`,
          `${root}//caf%E9|/%E9`,
          `${root}//caf%E9/sub|inner.txt`,
        ].sort(),
      );

      // Every reported path maps back to the bytes on disk, and the file is found there.
      for (const record of records) {
        const dirBytes = Buffer.from(decodeWireDirPath(record.dirPath, 'posix'));
        const fullPath = Buffer.concat([dirBytes, Buffer.from('/'), Buffer.from(decodeName(record.name))]);
        expect((await stat(fullPath)).size, record.name).to.equal(Number(record.sizeBytes));
      }

      const warnings = logs.filter((log) => log.level === WARN_LEVEL);
      expect(warnings.map((log) => log.name).sort()).to.deep.equal(
        ['/bad-%FF%FE.txt', '/n%ED%A0%80', '/n%ED%B0%80', '/100%25%E9', '/caf%E9', '/%E9'].sort(),
      );
      for (const warning of warnings) {
        expect(JSON.stringify(warning)).not.to.contain('\uFFFD');
      }
    });

    it('trailing dots and spaces stay distinct', async function () {
      const names = ['notes', 'notes.', 'notes ', 'notes..', 'CON.txt', 'nul.tar.gz', 'con'];
      for (const [index, name] of names.entries()) {
        await writeFile(path.join(root, name), 'x'.repeat(index + 1));
      }
      await mkdir(path.join(root, 'folder.'));
      await mkdir(path.join(root, 'folder'));
      await writeFile(path.join(root, 'folder.', 'inside dot'), 'a');
      await writeFile(path.join(root, 'folder', 'inside plain'), 'b');

      const { walker, records } = await walkAll(root, statMode);

      expect(walker.counters.files).to.equal(names.length + 2);
      const byName = new Map(records.map((record) => [`${record.dirPath}|${record.name}`, Number(record.sizeBytes)]));
      for (const [index, name] of names.entries()) {
        expect(byName.get(`${root}|${name}`), name).to.equal(index + 1);
      }
      expect(byName.get(`${root}/folder.|inside dot`)).to.equal(1);
      expect(byName.get(`${root}/folder|inside plain`)).to.equal(1);
    });

    it('path over 2,400 characters walked', async function () {
      const segment = 's'.repeat(199);
      let deep = root;
      while (deep.length < 2400) {
        deep = path.join(deep, segment);
      }
      await mkdir(deep, { recursive: true });
      await writeFile(path.join(deep, 'deep.txt'), 'deep');
      await writeFile(path.join(deep, 'deep.txt.'), 'dot');

      const { walker, records } = await walkAll(root, statMode);

      expect(walker.counters.unreadable).to.equal(0);
      expect(records.map((record) => record.dirPath)).to.deep.equal([deep, deep]);
      expect(records.map((record) => record.name).sort()).to.deep.equal(['deep.txt', 'deep.txt.']);
      expect(deep.length).to.be.at.least(2400);
    });

    it('symlink loop to parent not followed', async function () {
      await mkdir(path.join(root, 'a', 'b'), { recursive: true });
      await writeFile(path.join(root, 'a', 'b', 'file.txt'), 'f');
      await symlink('..', path.join(root, 'a', 'b', 'up'));
      await symlink('.', path.join(root, 'a', 'self'));
      await symlink(root, path.join(root, 'a', 'b', 'to-root'));

      const { walker, records } = await walkAll(root, statMode);

      expect(walker.counters.dirs).to.equal(3);
      expect(walker.counters.skipped).to.equal(3);
      expect(records.map((record) => `${record.dirPath}|${record.name}`)).to.deep.equal([`${root}/a/b|file.txt`]);
    });

    it('files and pipes never opened', async function () {
      if (process.platform === 'win32') {
        this.skip();
      }
      // Opening a FIFO for reading blocks until a writer appears, so a walker that opened
      // entries would hang here until the test timed out.
      execFileSync('mkfifo', [path.join(root, 'pipe')]);
      const filePath = path.join(root, 'old.txt');
      await writeFile(filePath, 'content');
      // An access time older than the modification time is updated by any read under relatime.
      await utimes(filePath, 1_500_000_000, 1_600_000_000);

      const { walker, records } = await walkAll(root, statMode);

      expect(walker.counters.skipped).to.equal(1);
      expect(records.map((record) => record.name)).to.deep.equal(['old.txt']);
      expect(records[0]!.atimeUnix).to.equal(1_500_000_000n);
      expect((await stat(filePath)).atimeMs).to.equal(1_500_000_000_000);
    });
  });
}
