import { expect } from 'chai';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SYNCHRONOUS_CALLS, THREAD_POOL_CALLS } from '../../src/tier2/descriptorCalls.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { isOnLocalFilesystem, localFilesystemName } from '../../src/tier2/localFilesystem.ts';

describe('local filesystem detection', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-localfs-'));
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('names local filesystem types', () => {
    expect(localFilesystemName(0xef53)).to.equal('ext2/ext3/ext4');
    expect(localFilesystemName(0x58465342)).to.equal('xfs');
    expect(localFilesystemName(0x01021994)).to.equal('tmpfs');
  });

  it('reads a signed type as unsigned', () => {
    // btrfs's magic number 0x9123683E is negative as a signed 32-bit word.
    expect(localFilesystemName(0x9123683e | 0)).to.equal('btrfs');
    expect(localFilesystemName(BigInt(0x9123683e))).to.equal('btrfs');
  });

  it('leaves network and FUSE types out', () => {
    expect(localFilesystemName(0x6969), 'NFS').to.equal(undefined);
    expect(localFilesystemName(0xff534d42), 'CIFS').to.equal(undefined);
    expect(localFilesystemName(0xfe534d42), 'SMB2').to.equal(undefined);
    expect(localFilesystemName(0x65735546), 'FUSE').to.equal(undefined);
  });

  it('judges a missing folder by its nearest parent', async () => {
    const expected = process.platform === 'linux' && localFilesystemName((await statfs(root)).type) !== undefined;

    expect(await isOnLocalFilesystem(path.join(root, 'not', 'yet', 'made'))).to.equal(expected);
  });

  it('gives a store the call set of its root', async () => {
    const local = await isOnLocalFilesystem(root);

    expect(await new FsStore(root).metadataCalls()).to.equal(local ? SYNCHRONOUS_CALLS : THREAD_POOL_CALLS);
    expect(await new FsStore(root, { metadataCalls: 'thread-pool' }).metadataCalls()).to.equal(THREAD_POOL_CALLS);
    expect(await new FsStore(root, { metadataCalls: 'synchronous' }).metadataCalls()).to.equal(SYNCHRONOUS_CALLS);
  });
});
