import { expect } from 'chai';
import { lstatSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';

import { formatStub, OFFLINE_ATTRIBUTE, STUB_MAGIC, STUB_SIZE_BYTES } from '../../agent/tiering/stub.ts';
import { tempNameFor } from '../../agent/tiering/tempNames.ts';
import { TreeWalker, type FileRecord, type StatMode } from '../../agent/walk.ts';

const logger = pino({ level: 'silent' });

async function walkAll(root: string, statMode: StatMode): Promise<{ walker: TreeWalker; records: FileRecord[] }> {
  const walker = new TreeWalker(root, { logger, statMode });
  const records: FileRecord[] = [];
  for await (const batch of walker.walkBatches()) {
    records.push(...batch);
  }
  return { walker, records };
}

for (const statMode of ['sync', 'parallel'] as const) {
  describe(`agent walk of stubs (${statMode})`, function () {
    let root: string;

    beforeEach(async function () {
      root = await mkdtemp(path.join(os.tmpdir(), 'strata-walk-stubs-'));
    });

    afterEach(async function () {
      await rm(root, { recursive: true, force: true });
    });

    it('stub reported offline, others not', async function () {
      const stub = formatStub({ kind: 'fs', key: 'docs/a.txt', size: 10, sha256: 'a'.repeat(64), mtimeUnix: 1, mtimeNs: '1000000000' });
      await writeFile(path.join(root, 'a.txt'), stub);
      await writeFile(path.join(root, 'same-size.bin'), Buffer.alloc(STUB_SIZE_BYTES, 0x41));
      await writeFile(path.join(root, 'short.txt'), STUB_MAGIC);

      const { records } = await walkAll(root, statMode);

      const attributes = Object.fromEntries(records.map((record) => [record.name, record.attributes]));
      expect(attributes).to.deep.equal({ 'a.txt': OFFLINE_ATTRIBUTE, 'same-size.bin': undefined, 'short.txt': undefined });
    });

    it('file id is the inode number', async function () {
      await writeFile(path.join(root, 'x.txt'), 'x');

      const { records } = await walkAll(root, statMode);

      expect(records[0]!.fileId).to.equal(lstatSync(path.join(root, 'x.txt'), { bigint: true }).ino);
    });

    it('temporary files of the agent skipped', async function () {
      await writeFile(path.join(root, tempNameFor('recall', Buffer.from('big.iso'))), 'partial');
      await writeFile(path.join(root, tempNameFor('stub', Buffer.from('doc.txt'))), 'stub');
      await writeFile(path.join(root, '.strata-notes.txt'), 'a user file');

      const { walker, records } = await walkAll(root, statMode);

      expect(records.map((record) => record.name)).to.deep.equal(['.strata-notes.txt']);
      expect(walker.counters.skipped).to.equal(2);
    });
  });
}
