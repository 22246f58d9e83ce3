import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstatSync, renameSync } from 'node:fs';
import { appendFile, chmod, mkdir, rename, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';

import { syncFolder } from '../../agent/durableFile.ts';
import { FolderSyncer } from '../../src/tier2/folderSyncer.ts';
import { NO_OFFLINE_MARKER, OfflineHelperMarker } from '../../agent/tiering/offlineMarker.ts';
import { OfflineMarking } from '../../agent/tiering/offlineMarking.ts';
import { recallFile } from '../../agent/tiering/recallFile.ts';
import { runActions } from '../../agent/tiering/runActions.ts';
import { parseStub, STUB_SIZE_BYTES } from '../../agent/tiering/stub.ts';
import { tempNameFor } from '../../agent/tiering/tempNames.ts';
import { IN_MEMORY_MAX_BYTES, tierFile, type TierContext } from '../../agent/tiering/tierFile.ts';
import { formatActionSummary } from '../../agent/tiering/tieringCommand.ts';
import type { ActionResult, ClaimedAction } from '../../src/wire/acting.ts';
import { captureLogger, WARN_LEVEL, type LogRecord } from './support/captureLogger.ts';
import { ClaimDouble, claimFor } from './support/claimDouble.ts';
import { CountingFsStore } from './support/countingStore.ts';
import { writeFakeHelper, type FakeHelper, type FakeHelperBehaviour } from './support/fakeOfflineHelper.ts';

const logger = pino({ level: 'silent' });
const run = promisify(execFile);

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Builds a claim for the file at `filePath` as a scan would report it now. */
function claimOnDisk(filePath: string | Buffer, dirPath: string, name: string, overrides: Partial<ClaimedAction> = {}): ClaimedAction {
  const stats = lstatSync(filePath, { bigint: true });
  return claimFor(dirPath, name, { sizeBytes: Number(stats.size), mtimeUnix: Number(stats.mtimeNs / 1_000_000_000n), fileId: stats.ino.toString() }, overrides);
}

describe('agent tiering of one file', function () {
  let root: string;
  let share: string;
  let context: TierContext & { store: CountingFsStore };

  beforeEach(async function () {
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-tier-'));
    share = path.join(root, 'share');
    await mkdir(share);
    context = { store: new CountingFsStore(path.join(root, 'tier2')), logger, folders: new FolderSyncer(syncFolder), offline: new OfflineMarking(NO_OFFLINE_MARKER, logger) };
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'passed') {
      await rm(root, { recursive: true, force: true });
    }
  });

  /** Runs the agent's steps for `action` in a child process with `env` added, and returns how it ended. */
  async function actOneFileWith(action: ClaimedAction, env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const script = fileURLToPath(new URL('./support/actOneFile.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(action), context.store.folder], { stdio: 'ignore', env: { ...process.env, ...env } });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    return { code, signal };
  }

  /** Writes a file and tiers it in a child process killed after the stub's write, before the cut. */
  async function killedBeforeCut(name: string, content: Buffer, mtimeUnix?: number): Promise<{ filePath: string; action: ClaimedAction }> {
    const filePath = await makeFile(name, content, mtimeUnix);
    const action = claimOnDisk(filePath, share, name);
    const killed = await actOneFileWith(action, { STRATA_AGENT_FAULT_AT: 'tier.stub-written' });
    expect(killed.signal).to.equal('SIGKILL');
    return { filePath, action };
  }

  /** Runs the agent's steps for `action` in a child process whose files may grow to `limitKiB`. */
  async function actUnderFileLimit(action: ClaimedAction, limitKiB: number): Promise<ActionResult> {
    const script = fileURLToPath(new URL('./support/actOneFile.ts', import.meta.url));
    const command = `ulimit -f ${limitKiB} && exec "$0" --import tsx "$1" "$2" "$3"`;
    const { stdout } = await run('bash', ['-c', command, process.execPath, script, JSON.stringify(action), context.store.folder]);
    return JSON.parse(stdout) as ActionResult;
  }

  async function makeFile(name: string, content: Buffer, mtimeUnix = 1_600_000_000): Promise<string> {
    const filePath = path.join(share, name);
    await writeFile(filePath, content);
    await chmod(filePath, 0o640);
    await utimes(filePath, 1_600_000_100, mtimeUnix);
    return filePath;
  }

  it('replaces a file by a stub of a verified copy', async function () {
    const content = Buffer.from('cold data '.repeat(1000));
    const filePath = await makeFile('report.pdf', content);
    const action = claimOnDisk(filePath, share, 'report.pdf');

    const result = await tierFile(action, context);

    expect(result).to.deep.equal({ id: action.id, fence: '1', outcome: 'STUBBED', sha256: sha256(content), sizeBytes: content.length });
    const stubBytes = await readFile(filePath);
    expect(stubBytes.length).to.equal(STUB_SIZE_BYTES);
    const stub = parseStub(stubBytes);
    expect(stub).to.include({ kind: 'fs', key: action.tier2Key, size: content.length, sha256: sha256(content), mtimeUnix: 1_600_000_000 });
    const stored = await readFile(path.join(context.store.folder, ...action.tier2Key.split('/')));
    expect(stored.equals(content)).to.equal(true);
  });

  it('stub is written in place, same inode', async function () {
    const filePath = await makeFile('inplace.bin', Buffer.alloc(20_000, 0x61));
    const before = await stat(filePath);

    const result = await tierFile(claimOnDisk(filePath, share, 'inplace.bin'), context);

    expect(result.outcome).to.equal('STUBBED');
    const after = await stat(filePath);
    expect(after.ino).to.equal(before.ino);
    expect(after.size).to.equal(STUB_SIZE_BYTES);
    expect(await readdir(share)).to.deep.equal(['inplace.bin']);
  });

  it('kill before the cut: next claim completes the stub', async function () {
    if (process.platform === 'win32') this.skip();
    const content = Buffer.from('interrupted '.repeat(2000));
    const { filePath, action } = await killedBeforeCut('interrupted.txt', content, 1_550_000_000);

    const left = await readFile(filePath);
    expect(left.length).to.equal(content.length);
    expect(parseStub(left.subarray(0, STUB_SIZE_BYTES))?.key).to.equal(action.tier2Key);
    expect(left.subarray(STUB_SIZE_BYTES).equals(content.subarray(STUB_SIZE_BYTES))).to.equal(true);

    const rerun = await tierFile({ ...action, fence: '2' }, context);

    expect(rerun).to.deep.equal({ id: action.id, fence: '2', outcome: 'STUBBED', sha256: sha256(content), sizeBytes: content.length });
    expect(parseStub(await readFile(filePath))?.sha256).to.equal(sha256(content));
    expect(Math.floor((await stat(filePath)).mtimeMs / 1000)).to.equal(1_550_000_000);
    expect(context.store.puts).to.equal(0);
  });

  it('rescan after a kill: no second copy', async function () {
    if (process.platform === 'win32') this.skip();
    const content = Buffer.from('rescanned '.repeat(2000));
    const { filePath, action } = await killedBeforeCut('rescanned.txt', content);

    // A rescan and a new plan describe the file as the kill left it.
    const replanned = claimOnDisk(filePath, share, 'rescanned.txt', { id: action.id, fence: '2', tier2Key: action.tier2Key });
    const result = await tierFile(replanned, context);

    expect(result.outcome).to.equal('STUBBED');
    expect(result.sha256).to.equal(sha256(content));
    expect(context.store.puts).to.equal(0);
    expect((await readFile(path.join(context.store.folder, ...action.tier2Key.split('/')))).equals(content)).to.equal(true);
  });

  it('write after a kill restores the start', async function () {
    if (process.platform === 'win32') this.skip();
    const content = Buffer.from('journal line\n'.repeat(2000));
    const { filePath, action } = await killedBeforeCut('journal.log', content);
    await appendFile(filePath, 'written after the kill\n');

    const result = await tierFile({ ...action, fence: '2' }, context);

    expect(result.outcome).to.equal('STALE');
    expect(result.error).to.match(/restored from the Tier-2 copy/);
    expect((await readFile(filePath)).equals(Buffer.concat([content, Buffer.from('written after the kill\n')]))).to.equal(true);
  });

  it('kill, then object lost: file kept', async function () {
    if (process.platform === 'win32') this.skip();
    const content = Buffer.from('object gone '.repeat(2000));
    const { filePath, action } = await killedBeforeCut('lost-object.txt', content);
    const left = await readFile(filePath);
    await context.store.delete(action.tier2Key);

    const result = await tierFile({ ...action, fence: '2' }, context);

    expect(result.outcome).to.equal('FAILED');
    expect(result.error).to.match(/object is missing; the file is kept as it is/);
    expect((await readFile(filePath)).equals(left)).to.equal(true);
  });

  it('program file is stubbed by rename', async function () {
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(10_000, 1)]);
    const filePath = await makeFile('tool.so', elf);
    const before = await stat(filePath);

    const result = await tierFile(claimOnDisk(filePath, share, 'tool.so'), context);

    // A process may have the library mapped: the rename leaves it the old inode.
    expect(result.outcome).to.equal('STUBBED');
    expect((await stat(filePath)).ino).to.not.equal(before.ino);
    expect((await stat(filePath)).mode & 0o7777).to.equal(0o640);
  });

  it('running program is stubbed by rename', async function () {
    if (process.platform !== 'linux') this.skip();
    const program = path.join(share, 'sleeper');
    await writeFile(program, await readFile('/bin/sleep'));
    await chmod(program, 0o755);
    await utimes(program, 1_600_000_100, 1_600_000_000);
    const action = claimOnDisk(program, share, 'sleeper');
    const child = spawn(program, ['30'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      const before = await stat(program);

      const result = await tierFile(action, context);

      // An ELF program takes the rename, which Linux allows while it runs; an open for writing gets ETXTBSY.
      expect(result.outcome).to.equal('STUBBED');
      expect((await stat(program)).ino).to.not.equal(before.ino);
      expect(parseStub(await readFile(program))?.key).to.equal(action.tier2Key);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('corrupted copy is FAILED, file kept', async function () {
    const content = Buffer.from('bytes the store will not keep '.repeat(100));
    const filePath = await makeFile('corrupted.dat', content);
    const action = claimOnDisk(filePath, share, 'corrupted.dat');
    const objectPath = path.join(context.store.folder, ...action.tier2Key.split('/'));
    const store = context.store;
    // A store whose disk flips bytes after the write: only the read-back can see it.
    store.afterPut = async () => writeFile(objectPath, Buffer.alloc(content.length, 0x21));

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('FAILED');
    expect(result.error).to.match(/Verification failed: .* reads back as \d+ bytes with SHA-256/);
    // Read without O_NOATIME first: the agent's own read must not make the file look recently used.
    expect(Math.floor((await stat(filePath)).atimeMs / 1000)).to.equal(1_600_000_100);
    expect((await readFile(filePath)).equals(content)).to.equal(true);
  });

  it('short stub write is FAILED, file kept', async function () {
    if (process.platform === 'win32') this.skip();
    const content = Buffer.from('x'.repeat(1500));
    const filePath = await makeFile('limited.dat', content);
    const action = claimOnDisk(filePath, share, 'limited.dat');

    // 2 KiB lets the 1,500-byte copy and its record through, but not the 4,093-byte stub.
    const result = await actUnderFileLimit(action, 2);

    expect(result.outcome).to.equal('FAILED');
    expect(result.error).to.match(/EFBIG/);
    expect((await readFile(filePath)).equals(content)).to.equal(true);
    expect(await readdir(share)).to.deep.equal(['limited.dat']);
  });

  it('link at the stub name is not followed', async function () {
    const content = Buffer.from('tiered while a link waits at the stub name');
    const filePath = await makeFile('linked.txt', content);
    const victim = path.join(root, 'victim.txt');
    await writeFile(victim, 'not the agent\'s to write');
    await chmod(victim, 0o600);
    await symlink(victim, path.join(share, tempNameFor('stub', Buffer.from('linked.txt'))));
    const action = claimOnDisk(filePath, share, 'linked.txt');

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('STUBBED');
    expect(await readFile(victim, 'utf8')).to.equal("not the agent's to write");
    expect((await stat(victim)).mode & 0o777).to.equal(0o600);
    expect(parseStub(await readFile(filePath))?.key).to.equal(action.tier2Key);
  });

  it('FIFO swapped in before open is STALE', async function () {
    if (process.platform === 'win32') this.skip();
    const filePath = await makeFile('swapped.txt', Buffer.from('replaced by a FIFO after the lstat'));
    const fifo = path.join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const action = claimOnDisk(filePath, share, 'swapped.txt');

    // tierFile reads the store's kind between its lstat and its open: the swap goes there.
    let swapped = false;
    Object.defineProperty(context.store, 'kind', {
      get: () => {
        if (!swapped) {
          swapped = true;
          renameSync(fifo, filePath);
        }
        return 'fs';
      },
    });
    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('STALE');
    expect(lstatSync(filePath).isFIFO()).to.equal(true);
  });

  it('FIFO at the path is STALE', async function () {
    if (process.platform === 'win32') this.skip();
    const filePath = await makeFile('piped.txt', Buffer.from('replaced by a FIFO before the claim'));
    const action = claimOnDisk(filePath, share, 'piped.txt');
    await rm(filePath);
    execFileSync('mkfifo', [filePath]);

    const result = await tierFile(action, context);

    expect(result.outcome, result.error).to.equal('STALE');
    expect(result.error).to.match(/no longer a regular file/);
    expect(lstatSync(filePath).isFIFO()).to.equal(true);
    expect(context.store.puts).to.equal(0);
  });

  it('folder at the path is STALE', async function () {
    const filePath = await makeFile('became a folder', Buffer.from('replaced by a folder before the claim'));
    const action = claimOnDisk(filePath, share, 'became a folder');
    await rm(filePath);
    await mkdir(filePath);

    const result = await tierFile(action, context);

    expect(result.outcome, result.error).to.equal('STALE');
    expect(lstatSync(filePath).isDirectory()).to.equal(true);
  });

  it('stub keeps mode and times', async function () {
    const filePath = await makeFile('keep.txt', Buffer.from('x'.repeat(5000)), 1_500_000_000);

    await tierFile(claimOnDisk(filePath, share, 'keep.txt'), context);

    const stats = await stat(filePath);
    expect(stats.mode & 0o7777).to.equal(0o640);
    expect(Math.floor(stats.mtimeMs / 1000)).to.equal(1_500_000_000);
    expect(Math.floor(stats.atimeMs / 1000)).to.equal(1_600_000_100);
    expect(await readdir(share)).to.deep.equal(['keep.txt']);
  });

  it('large file is streamed twice and verified', async function () {
    const content = Buffer.alloc(IN_MEMORY_MAX_BYTES + 1_000_000);
    for (let i = 0; i < content.length; i += 4096) {
      content.writeUInt32LE(i, i);
    }
    const filePath = await makeFile('big.bin', content);

    const result = await tierFile(claimOnDisk(filePath, share, 'big.bin'), context);

    expect(result.outcome).to.equal('STUBBED');
    expect(result.sha256).to.equal(sha256(content));
  });

  it('file changed since scan is STALE', async function () {
    const filePath = await makeFile('moving.txt', Buffer.from('before'));
    const action = claimOnDisk(filePath, share, 'moving.txt');
    await writeFile(filePath, Buffer.from('after, and longer'));

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('STALE');
    expect(result.error).to.match(/size changed/);
    expect((await readFile(filePath)).toString()).to.equal('after, and longer');
    expect(context.store.puts).to.equal(0);
  });

  it('stale file loses a leftover temporary stub', async function () {
    const filePath = await makeFile('edited.txt', Buffer.from('v1'));
    const action = claimOnDisk(filePath, share, 'edited.txt');
    const leftover = path.join(share, tempNameFor('stub', Buffer.from('edited.txt')));
    await writeFile(leftover, 'stub of a killed run');
    await writeFile(filePath, 'version 2');

    expect((await tierFile(action, context)).outcome).to.equal('STALE');
    expect(await readdir(share)).to.deep.equal(['edited.txt']);
  });

  it('mtime changed since scan is STALE', async function () {
    const filePath = await makeFile('touched.txt', Buffer.from('same size'));
    const action = claimOnDisk(filePath, share, 'touched.txt');
    await utimes(filePath, 1_600_000_100, 1_600_000_000 + 600);

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('STALE');
    expect(result.error).to.match(/modification time changed/);
  });

  it('mtime moved by one hour is not a change', async function () {
    const filePath = await makeFile('fat.txt', Buffer.from('on a FAT volume'));
    const action = claimOnDisk(filePath, share, 'fat.txt', {});
    action.mtimeUnix -= 3600;

    expect((await tierFile(action, context)).outcome).to.equal('STUBBED');
  });

  it('replaced file is STALE', async function () {
    const filePath = await makeFile('swapped.txt', Buffer.from('original'));
    const action = claimOnDisk(filePath, share, 'swapped.txt');
    // Written beside it and renamed over it, so the new file cannot reuse the inode.
    await makeFile('swapped.tmp', Buffer.from('imposter'));
    await rename(path.join(share, 'swapped.tmp'), filePath);

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('STALE');
    expect(result.error).to.match(/file id changed/);
  });

  it('missing file is STALE', async function () {
    const action = claimFor(share, 'gone.txt', { sizeBytes: 3, mtimeUnix: 1, fileId: null });

    expect((await tierFile(action, context)).outcome).to.equal('STALE');
  });

  it('existing stub of the key is STUBBED without copying', async function () {
    const content = Buffer.from('tiered before the crash');
    const filePath = await makeFile('again.txt', content);
    const action = claimOnDisk(filePath, share, 'again.txt');
    await tierFile(action, context);
    const putsBefore = context.store.puts;

    const rerun = await tierFile({ ...action, fence: '2' }, context);

    expect(rerun).to.deep.equal({ id: action.id, fence: '2', outcome: 'STUBBED', sha256: sha256(content), sizeBytes: content.length });
    expect(context.store.puts).to.equal(putsBefore);
  });

  it('stub of another key is STALE', async function () {
    const filePath = await makeFile('other.txt', Buffer.from('content'));
    const action = claimOnDisk(filePath, share, 'other.txt');
    await tierFile(action, context);

    const result = await tierFile({ ...action, tier2Key: 'share/elsewhere/other.txt' }, context);

    expect(result.outcome).to.equal('STALE');
    expect(result.error).to.match(/another Tier-2 object/);
  });

  it('stub whose object is missing is FAILED', async function () {
    const filePath = await makeFile('orphan.txt', Buffer.from('content'));
    const action = claimOnDisk(filePath, share, 'orphan.txt');
    await tierFile(action, context);
    await context.store.delete(action.tier2Key);

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('FAILED');
    expect(parseStub(await readFile(filePath))).to.not.equal(undefined);
  });

  it('key too long for a stub is FAILED first', async function () {
    const filePath = await makeFile('deep.txt', Buffer.from('kept'));
    const action = claimOnDisk(filePath, share, 'deep.txt', { tier2Key: `share/${'x'.repeat(4100)}` });

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('FAILED');
    expect(result.error).to.match(/more than the stub size/);
    expect(context.store.puts).to.equal(0);
    expect((await readFile(filePath)).toString()).to.equal('kept');
  });

  it('hard-linked file is FAILED and kept', async function () {
    const filePath = await makeFile('linked.txt', Buffer.from('two names'));
    const { link } = await import('node:fs/promises');
    await link(filePath, path.join(share, 'second-name.txt'));

    const result = await tierFile(claimOnDisk(filePath, share, 'linked.txt'), context);

    expect(result.outcome).to.equal('FAILED');
    expect((await readFile(filePath)).toString()).to.equal('two names');
  });

  it('acts on one of notes, notes. and notes only', async function () {
    const names = ['notes', 'notes.', 'notes '];
    for (const name of names) {
      await makeFile(name, Buffer.from(`content of [${name}]`));
    }

    const result = await tierFile(claimOnDisk(path.join(share, 'notes.'), share, 'notes.'), context);

    expect(result.outcome).to.equal('STUBBED');
    expect((await readFile(path.join(share, 'notes'))).toString()).to.equal('content of [notes]');
    expect((await readFile(path.join(share, 'notes '))).toString()).to.equal('content of [notes ]');
    expect(parseStub(await readFile(path.join(share, 'notes.')))).to.not.equal(undefined);
  });

  it('tiers a name that is not UTF-8', async function () {
    const rawName = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]);
    const filePath = Buffer.concat([Buffer.from(`${share}/`), rawName]);
    await writeFile(filePath, 'latin-1 name');
    const action = claimOnDisk(filePath, share, '/caf%E9.txt');

    const result = await tierFile(action, context);

    expect(result.outcome).to.equal('STUBBED');
    expect(parseStub(await readFile(filePath))?.key).to.equal(action.tier2Key);
  });

  describe('offline marking', function () {
    // A fake helper replaces powershell.exe, so these tests run the marking path of
    // Windows on any platform.
    let fake: FakeHelper;
    let marker: OfflineHelperMarker | undefined;
    let records: LogRecord[];

    beforeEach(function () {
      marker = undefined;
    });

    afterEach(async function () {
      await marker?.close();
    });

    /** Makes `context` mark stubs through a fake helper and capture its log. */
    async function markThroughFake(behaviour: FakeHelperBehaviour = {}, replyTimeoutMs?: number): Promise<void> {
      const helperFolder = path.join(root, 'helper');
      await mkdir(helperFolder);
      fake = await writeFakeHelper(helperFolder, behaviour, replyTimeoutMs);
      marker = new OfflineHelperMarker(fake.options);
      const captured = captureLogger();
      records = captured.records;
      context.logger = captured.logger;
      context.offline = new OfflineMarking(marker, captured.logger);
    }

    it('in-place stub is marked offline', async function () {
      await markThroughFake();
      const filePath = await makeFile('cold.txt', Buffer.from('cold '.repeat(2000)));
      const before = await stat(filePath);

      const result = await tierFile(claimOnDisk(filePath, share, 'cold.txt'), context);

      expect(result.outcome).to.equal('STUBBED');
      expect((await stat(filePath)).ino).to.equal(before.ino);
      expect(await fake.recorded()).to.deep.equal([filePath]);
      expect(context.offline.unmarked).to.equal(0);
    });

    it('renamed stub is marked offline', async function () {
      await markThroughFake();
      const filePath = await makeFile('run.sh', Buffer.from(`#!/bin/sh\n${'echo cold\n'.repeat(1000)}`));
      const before = await stat(filePath);

      const result = await tierFile(claimOnDisk(filePath, share, 'run.sh'), context);

      expect(result.outcome).to.equal('STUBBED');
      expect((await stat(filePath)).ino).to.not.equal(before.ino);
      expect(await fake.recorded()).to.deep.equal([filePath]);
    });

    it('completed interrupted stub is marked offline', async function () {
      if (process.platform === 'win32') this.skip();
      const { filePath, action } = await killedBeforeCut('halfway.txt', Buffer.from('halfway '.repeat(2000)));
      await markThroughFake();

      const rerun = await tierFile({ ...action, fence: '2' }, context);

      expect(rerun.outcome).to.equal('STUBBED');
      expect((await stat(filePath)).size).to.equal(STUB_SIZE_BYTES);
      expect(await fake.recorded()).to.deep.equal([filePath]);
    });

    it('earlier unmarked stub is marked', async function () {
      const filePath = await makeFile('earlier.txt', Buffer.from('stubbed by a killed run'));
      const action = claimOnDisk(filePath, share, 'earlier.txt');
      expect((await tierFile(action, context)).outcome).to.equal('STUBBED');
      await markThroughFake();

      const rerun = await tierFile({ ...action, fence: '2' }, context);

      expect(rerun.outcome).to.equal('STUBBED');
      expect(await fake.recorded()).to.deep.equal([filePath]);
    });

    it('stale file is not marked', async function () {
      await markThroughFake();
      const filePath = await makeFile('edited.txt', Buffer.from('v1'));
      const action = claimOnDisk(filePath, share, 'edited.txt');
      await writeFile(filePath, 'version 2');

      const result = await tierFile(action, context);

      expect(result.outcome).to.equal('STALE');
      expect(await fake.recorded()).to.deep.equal([]);
    });

    it('error reply warns, file still STUBBED', async function () {
      const filePath = path.join(share, 'locked.txt');
      await markThroughFake({ errorFor: [filePath] });
      const content = Buffer.from('locked '.repeat(1000));
      await makeFile('locked.txt', content);
      const action = claimOnDisk(filePath, share, 'locked.txt');

      const result = await tierFile(action, context);

      expect(result).to.deep.equal({ id: action.id, fence: '1', outcome: 'STUBBED', sha256: sha256(content), sizeBytes: content.length });
      expect(parseStub(await readFile(filePath))?.key).to.equal(action.tier2Key);
      expect(Math.floor((await stat(filePath)).mtimeMs / 1000)).to.equal(1_600_000_000);
      expect(context.offline.unmarked).to.equal(1);
      const warnings = records.filter((record) => record.level === WARN_LEVEL);
      expect(warnings).to.have.length(1);
      expect(warnings[0]!.msg).to.equal('Failed to mark a stub offline; it stays a valid stub');
      expect(warnings[0]!.path).to.equal(filePath);
      expect(warnings[0]!.actionId).to.equal(action.id);
      expect((warnings[0]!.err as { message: string }).message).to.equal(`Failed to mark ${filePath} offline: Access is denied.`);
    });

    it('hung helper: STUBBED after the timeout', async function () {
      const filePath = path.join(share, 'slow.txt');
      await markThroughFake({ hangOn: filePath }, 300);
      await makeFile('slow.txt', Buffer.from('slow '.repeat(1000)));
      const startedAt = Date.now();

      const result = await tierFile(claimOnDisk(filePath, share, 'slow.txt'), context);

      // The result waits for the marking: it comes after the timeout, with the stub counted.
      expect(result.outcome).to.equal('STUBBED');
      expect(Date.now() - startedAt).to.be.at.least(300);
      expect(context.offline.unmarked).to.equal(1);
    });

    it('dead helper does not stop the act', async function () {
      const names = Array.from({ length: 6 }, (_, index) => `file-${index}.txt`);
      await markThroughFake({ exitOn: path.join(share, names[1]!) });
      const actions: ClaimedAction[] = [];
      for (const name of names) {
        const filePath = await makeFile(name, Buffer.from(`content of ${name} `.repeat(300)));
        actions.push(claimOnDisk(filePath, share, name));
      }
      const offline = context.offline;

      // One worker, so the requests reach the helper in file order.
      const progress = await runActions({
        source: new ClaimDouble(actions),
        share: 'docs',
        kind: 'tier',
        concurrency: 1,
        claimBatch: 6,
        handle: (action) => tierFile(action, context),
        countUnmarked: () => offline.unmarked,
        logger: context.logger,
      });

      expect(progress.outcomes.STUBBED).to.equal(6);
      expect(progress.unmarked).to.equal(5);
      expect(formatActionSummary(progress)).to.contain(' rejected=0 unmarked=5 bytes=');
      expect(await fake.recorded()).to.deep.equal([path.join(share, names[0]!), path.join(share, names[1]!)]);
      const stopWarnings = records.filter((record) => record.level === WARN_LEVEL && record.msg.startsWith('Offline marker stopped'));
      expect(stopWarnings).to.have.length(1);
      expect(stopWarnings[0]!.path).to.equal(path.join(share, names[1]!));
      expect((stopWarnings[0]!.err as { message: string }).message).to.match(/exited \(code 3\)/);
      expect(records.filter((record) => record.msg === 'Stub not marked offline: the offline marker has stopped')).to.have.length(4);
    });
  });

  describe('recall', function () {
    async function tierForRecall(name: string, content: Buffer): Promise<{ filePath: string; recall: ClaimedAction }> {
      const filePath = await makeFile(name, content, 1_400_000_000);
      const action = claimOnDisk(filePath, share, name);
      const tiered = await tierFile(action, context);
      expect(tiered.outcome).to.equal('STUBBED');
      return { filePath, recall: { ...action, kind: 'recall', fence: '3', sha256: tiered.sha256! } };
    }

    it('restores exact bytes, mode and mtime', async function () {
      const content = Buffer.from('bring me back '.repeat(3000));
      const { filePath, recall } = await tierForRecall('back.txt', content);

      const result = await recallFile(recall, context);

      expect(result).to.deep.equal({ id: recall.id, fence: '3', outcome: 'REHYDRATED', sha256: sha256(content), sizeBytes: content.length });
      expect((await readFile(filePath)).equals(content)).to.equal(true);
      const stats = await stat(filePath);
      expect(Math.floor(stats.mtimeMs / 1000)).to.equal(1_400_000_000);
      expect(stats.mode & 0o7777).to.equal(0o640);
      expect(await readdir(share)).to.deep.equal(['back.txt']);
    });

    it('short restore write is FAILED, stub kept', async function () {
      if (process.platform === 'win32') this.skip();
      const { filePath, recall } = await tierForRecall('big.txt', Buffer.from('y'.repeat(6000)));
      const stubBytes = await readFile(filePath);

      const result = await actUnderFileLimit(recall, 4);

      expect(result.outcome).to.equal('FAILED');
      expect(result.error).to.match(/EFBIG/);
      expect((await readFile(filePath)).equals(stubBytes)).to.equal(true);
      expect(await readdir(share)).to.deep.equal(['big.txt']);
    });

    it('restored but unreported file is REHYDRATED', async function () {
      const content = Buffer.from('restored before the crash');
      const { recall } = await tierForRecall('twice.txt', content);
      await recallFile(recall, context);

      const rerun = await recallFile(recall, context);

      expect(rerun.outcome).to.equal('REHYDRATED');
      expect(rerun.sha256).to.equal(sha256(content));
    });

    it('corrupt Tier-2 object keeps the stub', async function () {
      const { filePath, recall } = await tierForRecall('corrupt.txt', Buffer.from('original bytes'));
      await writeFile(path.join(context.store.folder, ...recall.tier2Key.split('/')), 'original byteZ');

      const result = await recallFile(recall, context);

      expect(result.outcome).to.equal('FAILED');
      expect(parseStub(await readFile(filePath))).to.not.equal(undefined);
      expect(await readdir(share)).to.deep.equal(['corrupt.txt']);
    });

    it('recall writes a new file', async function () {
      // Recall clears no offline attribute, because the recalled content is a new file
      // (recallFile.ts). Writing into the stub instead would keep the attribute.
      const { filePath, recall } = await tierForRecall('fresh.txt', Buffer.from('fresh '.repeat(1000)));
      const stub = await stat(filePath);

      expect((await recallFile(recall, context)).outcome).to.equal('REHYDRATED');

      expect((await stat(filePath)).ino).to.not.equal(stub.ino);
    });

    it('file replaced by the user is STALE', async function () {
      const { filePath, recall } = await tierForRecall('mine.txt', Buffer.from('tiered'));
      await writeFile(filePath, 'new work');

      const result = await recallFile(recall, context);

      expect(result.outcome).to.equal('STALE');
      expect((await readFile(filePath)).toString()).to.equal('new work');
    });
  });
});
