/**
 * Tiering one claimed file: check it is still the file the scan saw, copy it to Tier-2
 * while hashing, verify the stored copy, replace the original with a stub, and on
 * Windows mark the stub offline (offlineMarking.ts).
 *
 * Crash safety rests on the order of the steps. The original is overwritten by its stub
 * only after the Tier-2 copy was read back and matched. The stub is written in place, or
 * written beside the file and renamed over it (replaceWithStub.ts). A crash therefore
 * leaves the original, or a verified copy and the stub (perhaps still followed by the
 * rest of the original, which interruptedStub.ts completes), never neither. A rerun of a
 * file that is already a stub naming the claimed key reports it STUBBED without copying
 * again.
 *
 * Calls on the local file that may wait for the disk or the filesystem's allocator are
 * asynchronous: the first lstat, the reads of its content, cutting the file to its stub,
 * creating a stub by rename, the rename and every fsync. The calls on
 * what the first lstat and the read brought into memory (opening the file, fstat, close,
 * reading its first 4 KiB, writing the 4 KiB stub, its mode and times) are
 * synchronous: they return in microseconds, while each asynchronous call costs a round
 * trip through the thread pool. Measured in docs/benchmarks.md. Calls on the Tier-2 store
 * stay asynchronous, because it may be a network share.
 */
import { closeSync, fstatSync, type BigIntStats } from 'node:fs';
import { rm, utimes } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';

import type { ActionResult, ClaimedAction } from '../../src/wire/acting.ts';
import { Tier2ContentMismatchError, Tier2NotFoundError } from '../../src/tier2/errors.ts';
import type { FolderSyncer } from '../../src/tier2/folderSyncer.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import { faultPoint } from './faultHooks.ts';
import type { HeldLease } from './leaseKeeper.ts';
import { describeChangeSinceScan, mtimeSeconds, readFileState, unchangedSince } from './fileState.ts';
import { CountingStream, digestBuffer, digestFile, readAt, readChunks, type ContentDigest } from './hashing.ts';
import { resolveLocalFile, tempPathFor } from './localPath.ts';
import type { OfflineMarking } from './offlineMarking.ts';
import { outcome } from './outcome.ts';
import { completeInterruptedStub, interruptedStubOf } from './interruptedStub.ts';
import { replaceWithStub } from './replaceWithStub.ts';
import { isReplacedFileError, openCheckedSync } from './safeOpen.ts';
import { formatStub, STUB_SIZE_BYTES, StubFormatError, type StubContent } from './stub.ts';
import { nanosecondsToSeconds, readAtStart } from './stubInPlace.ts';

export { nanosecondsToSeconds } from './stubInPlace.ts';

/**
 * Files up to this size are read into memory once, hashed, and sent from memory. Larger
 * files are read twice: once to hash them, because the store takes the SHA-256 with the
 * upload, and once to send them. The store hashes what it receives and rejects the
 * upload when a change in between gives another SHA-256.
 */
export const IN_MEMORY_MAX_BYTES = 8 * 1024 * 1024;

export interface TierContext {
  store: Tier2Store;
  logger: Logger;
  /** Flushes folders after renames; shared by the run's workers so that they share flushes. */
  folders: FolderSyncer;
  /** Offline marking of finished stubs, done before they are reported STUBBED. Recall does not use it. */
  offline: OfflineMarking;
}

/** A step found the file changed; the action ends STALE and the original stays. */
class FileChangedError extends Error {}

/**
 * Tiers one file and returns the result to report. Errors of the store or disk end as
 * FAILED. Without a lease (tests), the action counts as held throughout.
 */
export async function tierFile(action: ClaimedAction, context: TierContext, lease?: HeldLease): Promise<ActionResult> {
  try {
    return await tierFileSteps(action, context, lease);
  } catch (error) {
    if (error instanceof FileChangedError) {
      return outcome(action, 'STALE', { error: error.message });
    }
    context.logger.warn({ actionId: action.id, key: action.tier2Key, err: error }, 'Failed to tier a file');
    return outcome(action, 'FAILED', { error: (error as Error).message ?? String(error) });
  }
}

async function tierFileSteps(action: ClaimedAction, context: TierContext, lease: HeldLease | undefined): Promise<ActionResult> {
  const file = resolveLocalFile(action.dirPath, action.name);
  const state = await readFileState(file.path);

  if (state.kind === 'missing') {
    return outcome(action, 'STALE', { error: 'the file no longer exists' });
  }
  if (state.kind === 'stub') {
    await restoreStubTimes(file.path, state.stats, state.stub, action);
    const confirmed = await confirmEarlierStub(action, state.stub, context.store);
    // The run that wrote the stub may have been killed before it marked it.
    if (confirmed.outcome === 'STUBBED') await context.offline.markStub(action, file.path);
    return confirmed;
  }

  // One small read serves the interrupted-stub check here and the program check before stubbing.
  // Only a regular file is opened: a FIFO, folder or device in its place is STALE below.
  const head = state.stats.isFile() ? readHead(file.path) : Buffer.alloc(0);
  const interrupted = interruptedStubOf(head, state.stats, action, context);
  if (interrupted !== undefined) {
    return completeInterruptedStub(action, file, state.stats, interrupted, context);
  }

  const change = describeChangeSinceScan(action, state.stats);
  if (change !== undefined) {
    // A stub written by a killed earlier run would otherwise stay beside the file for good.
    await rm(tempPathFor(file, 'stub'), { force: true });
    return outcome(action, 'STALE', { error: change });
  }
  if (state.stats.nlink > 1n) {
    return outcome(action, 'FAILED', {
      error: `the file has ${state.stats.nlink} hard links; a stub under one name would free no space and split the links`,
    });
  }

  // A key too long for a stub is found before anything is copied; the SHA-256 has a fixed length.
  try {
    formatStub({ kind: context.store.kind, key: action.tier2Key, size: action.sizeBytes, sha256: '0'.repeat(64), mtimeUnix: mtimeSeconds(state.stats), mtimeNs: state.stats.mtimeNs.toString() });
  } catch (error) {
    if (error instanceof StubFormatError) {
      return outcome(action, 'FAILED', { error: error.message });
    }
    throw error;
  }

  const fd = openChecked(file.path);
  let digest: ContentDigest;
  let stats: BigIntStats;
  try {
    stats = fstatSync(fd, { bigint: true });
    if (!unchangedSince(state.stats, stats)) {
      throw new FileChangedError('the file changed while it was being opened');
    }
    digest = await copyToTier2(action, fd, stats, context.store);
  } finally {
    closeSync(fd);
  }

  await verifyCopy(action.tier2Key, digest, context.store);
  faultPoint('tier.verified');
  throwIfLeaseLost(lease, 'the stub was written');

  const stub: StubContent = {
    kind: context.store.kind,
    key: action.tier2Key,
    size: digest.sizeBytes,
    sha256: digest.sha256,
    mtimeUnix: mtimeSeconds(stats),
    mtimeNs: stats.mtimeNs.toString(),
  };
  if (!(await replaceWithStub(file, stats, head, formatStub(stub), stats, context.folders))) {
    // The Tier-2 copy stays for reconciliation, as in copyToTier2, and for the same reason.
    throw new FileChangedError('the file changed while it was copied to Tier-2; the original is kept');
  }
  await context.offline.markStub(action, file.path);
  faultPoint('tier.stubbed');

  return outcome(action, 'STUBBED', { sha256: digest.sha256, sizeBytes: digest.sizeBytes });
}

/**
 * Stops an action whose lease another claim took over, or ran out while renewals
 * failed, so that another agent may hold it now. That agent does the work, and this
 * one's result would be rejected anyway. The Tier-2 copy stays: a new holder writes the
 * same key with the same content.
 */
export function throwIfLeaseLost(lease: HeldLease | undefined, before: string): void {
  if (lease?.lost) {
    throw new Error(`the lease was lost before ${before}: the file was claimed again, and the original is kept`);
  }
  if (lease !== undefined && lease.remainingSeconds() <= 0) {
    throw new Error(`the lease ran out before ${before}, and renewing it failed; the original is kept`);
  }
}

/**
 * Checks a file that is already a stub, left by an earlier run that did not report it.
 * It counts as STUBBED when it names the claimed key and the object is there.
 */
async function confirmEarlierStub(action: ClaimedAction, stub: StubContent, store: Tier2Store): Promise<ActionResult> {
  if (stub.key !== action.tier2Key || stub.kind !== store.kind) {
    return outcome(action, 'STALE', { error: `the file is already a stub of another Tier-2 object (${stub.kind} ${stub.key})` });
  }
  if (stub.size !== action.sizeBytes) {
    return outcome(action, 'STALE', { error: `the file is a stub of ${stub.size} bytes, but the scan saw ${action.sizeBytes}` });
  }

  const object = await store.head(stub.key);
  if (object === null || object.sizeBytes !== stub.size || (object.sha256 !== undefined && object.sha256 !== stub.sha256)) {
    // Nothing is changed: the stub is the only local trace of the content, so an operator must look.
    return outcome(action, 'FAILED', {
      error: `the file is a stub of ${stub.key}, but that Tier-2 object is ${object === null ? 'missing' : 'different'}`,
    });
  }
  return outcome(action, 'STUBBED', { sha256: stub.sha256, sizeBytes: stub.size });
}

/** Stores the open file under the claimed key and returns the size and SHA-256 of what was sent. */
async function copyToTier2(action: ClaimedAction, fd: number, stats: BigIntStats, store: Tier2Store): Promise<ContentDigest> {
  const expectedSize = Number(stats.size);
  let digest: ContentDigest;
  let body: Buffer | Readable;

  if (expectedSize <= IN_MEMORY_MAX_BYTES) {
    body = await readWhole(fd, expectedSize);
    digest = digestBuffer(body);
  } else {
    digest = await digestFile(fd);
    body = Readable.from(readChunks(fd), { objectMode: false }).pipe(new CountingStream(() => faultPoint('tier.copying')));
  }
  if (digest.sizeBytes !== expectedSize) {
    throw new FileChangedError(`the file changed while it was read: ${digest.sizeBytes} bytes read, ${expectedSize} expected`);
  }
  if (Buffer.isBuffer(body)) {
    faultPoint('tier.copying');
  }

  // NOTE: the claim carries only the object's key. For a key the server shortened to its
  // hashed form, the object's metadata therefore lacks the full key (PutOptions.fullKey),
  // and only the database maps it back to the file.
  try {
    await store.put(action.tier2Key, body, { sizeBytes: digest.sizeBytes, sha256: digest.sha256 });
  } catch (error) {
    // The store compared what it read with the SHA-256 of the first read, and removed it.
    if (error instanceof Tier2ContentMismatchError) {
      throw new FileChangedError('the file changed while it was copied to Tier-2');
    }
    throw error;
  }

  const after = fstatSync(fd, { bigint: true });
  if (!unchangedSince(stats, after)) {
    // The object stays, for reconciliation to find as an orphan. Deleting it is not safe:
    // a second agent that took over an expired lease may have stubbed the file with it.
    throw new FileChangedError('the file changed while it was copied to Tier-2');
  }
  return digest;
}

/**
 * Reads an open file of `expectedSize` bytes into one buffer. The buffer has one byte
 * more, so a file that grew since its stat reads longer and is caught by the caller.
 * A short read ends the loop without one more read to see zero bytes, because a local
 * regular file returns fewer bytes than requested at its end. A file that grew in
 * between fails the stat comparison after the copy. An early short read from a network
 * filesystem gives fewer bytes than expected, so the file ends STALE and is kept.
 */
async function readWhole(fd: number, expectedSize: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(expectedSize + 1);
  let length = 0;
  while (length < buffer.length) {
    const requested = buffer.length - length;
    const bytesRead = await readAt(fd, buffer, length, requested, length);
    length += bytesRead;
    if (bytesRead < requested) {
      break;
    }
  }
  return buffer.subarray(0, length);
}

/** Reads the stored object back and compares its size and SHA-256 with what was sent. */
async function verifyCopy(key: string, sent: ContentDigest, store: Tier2Store): Promise<void> {
  let stored: ContentDigest;
  try {
    stored = await store.readBack(key);
  } catch (error) {
    if (error instanceof Tier2NotFoundError) {
      throw new Error(`Verification failed: Tier-2 object ${key} is missing right after it was stored`);
    }
    throw error;
  }
  if (stored.sizeBytes !== sent.sizeBytes || stored.sha256 !== sent.sha256) {
    throw new Error(
      `Verification failed: Tier-2 object ${key} reads back as ${stored.sizeBytes} bytes with SHA-256 ${stored.sha256}, ` +
        `${sent.sizeBytes} bytes with ${sent.sha256} were sent`,
    );
  }
}

/**
 * Reads the first STUB_SIZE_BYTES of a file, fewer when it is shorter, or none when it
 * cannot be opened now or is no longer a regular file (the open for the copy then
 * reports why, or finds it changed).
 */
function readHead(filePath: string | Buffer): Buffer {
  let fd: number;
  try {
    fd = openCheckedSync(filePath);
  } catch {
    return Buffer.alloc(0);
  }
  try {
    // A FIFO or folder swapped in after the lstat cannot be read at an offset, so it gives no head.
    if (!fstatSync(fd).isFile()) return Buffer.alloc(0);
    return readAtStart(fd, STUB_SIZE_BYTES);
  } finally {
    closeSync(fd);
  }
}

/** Opens the file that lstat saw for reading; a link or FIFO put in its place makes the file STALE. */
function openChecked(filePath: string | Buffer): number {
  try {
    return openCheckedSync(filePath);
  } catch (error) {
    if (isReplacedFileError(error)) {
      throw new FileChangedError('the file was replaced by a link or a special file while it was being opened');
    }
    throw error;
  }
}

/**
 * Gives a stub of the claimed key the modification time it records, when a run killed
 * after cutting the file in place left the time of that write. The access time stays.
 */
async function restoreStubTimes(filePath: string | Buffer, stats: BigIntStats, stub: StubContent, action: ClaimedAction): Promise<void> {
  if (stub.key !== action.tier2Key || stats.mtimeNs === BigInt(stub.mtimeNs)) return;
  await utimes(filePath, nanosecondsToSeconds(stats.atimeNs), nanosecondsToSeconds(BigInt(stub.mtimeNs)));
}
