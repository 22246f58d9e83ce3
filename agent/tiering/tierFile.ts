/**
 * Tiering one claimed file: check it is still the file the scan saw, copy it to Tier-2
 * while hashing, verify the stored copy, and replace the original with a stub.
 *
 * Crash safety rests on the order of the steps. The original is replaced only by a
 * rename, and only after the Tier-2 copy was read back and matched. A crash therefore
 * leaves either the original, or a verified copy and the stub, never neither. A rerun
 * of a file that is already a stub naming the claimed key reports it STUBBED without
 * copying again.
 */
import type { BigIntStats } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';

import type { ActionResult, ClaimedAction } from '../../src/wire/acting.ts';
import { Tier2ContentMismatchError } from '../../src/tier2/errors.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import { faultPoint } from './faultHooks.ts';
import type { FolderSyncer } from './folderSyncer.ts';
import { describeChangeSinceScan, mtimeSeconds, readFileState, unchangedSince } from './fileState.ts';
import { CountingStream, digestBuffer, digestFile, digestStream, readChunks, type ContentDigest } from './hashing.ts';
import { resolveLocalFile, tempPathFor, type LocalFile } from './localPath.ts';
import { outcome } from './outcome.ts';
import { formatStub, StubFormatError, type StubContent } from './stub.ts';

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
}

/** A step found the file changed; the action ends STALE and the original stays. */
class FileChangedError extends Error {}

/** Tiers one file and returns the result to report. Errors of the store or disk end as FAILED. */
export async function tierFile(action: ClaimedAction, context: TierContext): Promise<ActionResult> {
  try {
    return await tierFileSteps(action, context);
  } catch (error) {
    if (error instanceof FileChangedError) {
      return outcome(action, 'STALE', { error: error.message });
    }
    context.logger.warn({ actionId: action.id, key: action.tier2Key, err: error }, 'Failed to tier a file');
    return outcome(action, 'FAILED', { error: (error as Error).message ?? String(error) });
  }
}

async function tierFileSteps(action: ClaimedAction, context: TierContext): Promise<ActionResult> {
  const file = resolveLocalFile(action.dirPath, action.name);
  const state = await readFileState(file.path);

  if (state.kind === 'missing') {
    return outcome(action, 'STALE', { error: 'the file no longer exists' });
  }
  if (state.kind === 'stub') {
    return confirmEarlierStub(action, state.stub, context.store);
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

  const handle = await open(file.path, 'r');
  let digest: ContentDigest;
  let stats: BigIntStats;
  try {
    stats = await handle.stat({ bigint: true });
    if (!unchangedSince(state.stats, stats)) {
      throw new FileChangedError('the file changed while it was being opened');
    }
    digest = await copyToTier2(action, handle, stats, context.store);
  } finally {
    await handle.close();
  }

  await verifyCopy(action.tier2Key, digest, context.store);
  faultPoint('tier.verified');

  const stub: StubContent = {
    kind: context.store.kind,
    key: action.tier2Key,
    size: digest.sizeBytes,
    sha256: digest.sha256,
    mtimeUnix: mtimeSeconds(stats),
    mtimeNs: stats.mtimeNs.toString(),
  };
  await replaceWithStub(file, stats, stub, context);
  faultPoint('tier.stubbed');

  return outcome(action, 'STUBBED', { sha256: digest.sha256, sizeBytes: digest.sizeBytes });
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
async function copyToTier2(action: ClaimedAction, handle: FileHandle, stats: BigIntStats, store: Tier2Store): Promise<ContentDigest> {
  const expectedSize = Number(stats.size);
  let digest: ContentDigest;
  let body: () => Readable;

  if (expectedSize <= IN_MEMORY_MAX_BYTES) {
    const content = await handle.readFile();
    digest = digestBuffer(content);
    body = () => Readable.from([content], { objectMode: false });
  } else {
    digest = await digestFile(handle);
    body = () => Readable.from(readChunks(handle), { objectMode: false });
  }
  if (digest.sizeBytes !== expectedSize) {
    throw new FileChangedError(`the file changed while it was read: ${digest.sizeBytes} bytes read, ${expectedSize} expected`);
  }

  const sent = new CountingStream(() => faultPoint('tier.copying'));

  // NOTE: the claim carries only the object's key. For a key the server shortened to its
  // hashed form, the object's metadata therefore lacks the full key (PutOptions.fullKey),
  // and only the database maps it back to the file.
  try {
    await store.put(action.tier2Key, body().pipe(sent), { sizeBytes: digest.sizeBytes, sha256: digest.sha256 });
  } catch (error) {
    // The store compared what it read with the SHA-256 of the first read, and removed it.
    if (error instanceof Tier2ContentMismatchError) {
      throw new FileChangedError('the file changed while it was copied to Tier-2');
    }
    throw error;
  }

  const after = await handle.stat({ bigint: true });
  if (!unchangedSince(stats, after) || sent.sizeBytes !== digest.sizeBytes) {
    // The object stays, for reconciliation to find as an orphan. Deleting it is not safe:
    // a second agent that took over an expired lease may have stubbed the file with it.
    throw new FileChangedError('the file changed while it was copied to Tier-2');
  }
  return digest;
}

/** Reads the stored object back and compares its size and SHA-256 with what was sent. */
async function verifyCopy(key: string, sent: ContentDigest, store: Tier2Store): Promise<void> {
  const object = await store.head(key);
  if (object === null) {
    throw new Error(`Verification failed: Tier-2 object ${key} is missing right after it was stored`);
  }
  if (object.sizeBytes !== sent.sizeBytes) {
    throw new Error(`Verification failed: Tier-2 object ${key} has ${object.sizeBytes} bytes, ${sent.sizeBytes} were sent`);
  }

  const stored = await digestStream(await store.get(key));
  if (stored.sizeBytes !== sent.sizeBytes || stored.sha256 !== sent.sha256) {
    throw new Error(`Verification failed: Tier-2 object ${key} reads back as SHA-256 ${stored.sha256}, ${sent.sha256} was sent`);
  }
}

/**
 * Writes the stub under a temporary name in the same folder with the original's mode,
 * owner and times, flushes it, checks the original once more, and renames the stub over it.
 */
async function replaceWithStub(file: LocalFile, original: BigIntStats, stub: StubContent, context: TierContext): Promise<void> {
  const content = formatStub(stub);
  const tempPath = tempPathFor(file, 'stub');
  await writeFileLike(tempPath, content, original);
  faultPoint('tier.stub-written');

  const current = await readFileState(file.path);
  if (current.kind !== 'other' || !unchangedSince(original, current.stats)) {
    // The Tier-2 copy stays for reconciliation, as in copyToTier2, and for the same reason.
    await rm(tempPath, { force: true });
    throw new FileChangedError('the file changed while it was copied to Tier-2; the original is kept');
  }

  // NOTE: a process that writes to the original between this check and the rename loses
  // that write to the stub. POSIX has no way to rename only if unchanged; on Windows a
  // share-mode lock on the original would close the gap, which Node cannot take.
  await rename(tempPath, file.path);
  await context.folders.sync(file.folder);
}

/** Writes `content` to `filePath` with the mode, owner and times of `like`, and flushes it. */
export async function writeFileLike(filePath: string | Buffer, content: Buffer, like: BigIntStats): Promise<void> {
  const handle = await open(filePath, 'w', 0o600);
  try {
    await handle.writeFile(content);
    await copyMetadata(handle, like);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Gives an open file the mode, owner, access and modification times of `like`. */
export async function copyMetadata(handle: FileHandle, like: BigIntStats): Promise<void> {
  if (process.platform !== 'win32') {
    await handle.chmod(Number(like.mode & 0o7777n));
    const own = await handle.stat({ bigint: true });
    if (own.uid !== like.uid || own.gid !== like.gid) {
      // Only root may give a file away; another user's stub keeps the agent's owner, as the
      // README documents.
      await handle.chown(Number(like.uid), Number(like.gid)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPERM') {
          throw error;
        }
      });
    }
  }
  await handle.utimes(nanosecondsToSeconds(like.atimeNs), nanosecondsToSeconds(like.mtimeNs));
}

/** Converts nanoseconds to fractional seconds, which utimes takes; exact to about a microsecond. */
export function nanosecondsToSeconds(nanoseconds: bigint): number {
  const seconds = nanoseconds / 1_000_000_000n;
  return Number(seconds) + Number(nanoseconds - seconds * 1_000_000_000n) / 1e9;
}
