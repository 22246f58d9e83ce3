/**
 * Recalling one stubbed file: stream its Tier-2 object into a temporary file beside the
 * stub while hashing, check size and SHA-256 against the claim, give it the original's
 * times and the stub's mode, and rename it over the stub. The stub stays until the
 * verified content replaces it, so a crash leaves the stub or the original, never
 * neither. A rerun finding the original content in place reports it REHYDRATED.
 */
import type { BigIntStats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';

import type { ActionResult, ClaimedAction } from '../../src/wire/acting.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import { writeFully } from '../../src/tier2/writeFully.ts';
import { faultPoint } from './faultHooks.ts';
import type { HeldLease } from './leaseKeeper.ts';
import { readFileState, unchangedSince } from './fileState.ts';
import { digestFile, type ContentDigest } from './hashing.ts';
import { resolveLocalFile, tempPathFor } from './localPath.ts';
import { outcome } from './outcome.ts';
import { createFreshHandle, READ_CHECKED_FILE } from './safeOpen.ts';
import type { StubContent } from './stub.ts';
import { nanosecondsToSeconds, throwIfLeaseLost, type TierContext } from './tierFile.ts';

/** Recalls one file and returns the result to report. Errors of the store or disk end as FAILED. */
export async function recallFile(action: ClaimedAction, context: TierContext, lease?: HeldLease): Promise<ActionResult> {
  try {
    return await recallFileSteps(action, context, lease);
  } catch (error) {
    context.logger.warn({ actionId: action.id, key: action.tier2Key, err: error }, 'Failed to recall a file');
    return outcome(action, 'FAILED', { error: (error as Error).message ?? String(error) });
  }
}

async function recallFileSteps(action: ClaimedAction, context: TierContext, lease: HeldLease | undefined): Promise<ActionResult> {
  if (action.sha256 === null) {
    return outcome(action, 'FAILED', { error: 'the claim carries no SHA-256 to verify the recalled content against' });
  }
  const file = resolveLocalFile(action.dirPath, action.name);
  const state = await readFileState(file.path);

  if (state.kind === 'missing') {
    return outcome(action, 'STALE', { error: 'the stub no longer exists' });
  }
  if (state.kind === 'other') {
    // Content a killed earlier run left half-written is of no use once the stub is gone.
    await rm(tempPathFor(file, 'recall'), { force: true });
    return confirmEarlierRecall(action, file.path, state.stats);
  }
  if (state.stub.key !== action.tier2Key) {
    return outcome(action, 'STALE', { error: `the stub names another Tier-2 object (${state.stub.key})` });
  }
  if (state.stub.kind !== context.store.kind) {
    return outcome(action, 'FAILED', { error: `the stub names a ${state.stub.kind} object, but the share's target is ${context.store.kind}` });
  }

  const tempPath = tempPathFor(file, 'recall');
  let digest: ContentDigest;
  try {
    digest = await downloadTo(tempPath, action.tier2Key, state.stats, state.stub, context.store);
  } catch (error) {
    // A failed download (a full disk, a lost connection) leaves part of the file behind.
    await rm(tempPath, { force: true });
    throw error;
  }
  if (digest.sizeBytes !== action.sizeBytes || digest.sha256 !== action.sha256) {
    await rm(tempPath, { force: true });
    return outcome(action, 'FAILED', {
      error:
        `Tier-2 object ${action.tier2Key} has ${digest.sizeBytes} bytes with SHA-256 ${digest.sha256}, ` +
        `but ${action.sizeBytes} bytes with ${action.sha256} were tiered; the stub is kept`,
    });
  }

  const current = await readFileState(file.path);
  if (current.kind !== 'stub' || !unchangedSince(state.stats, current.stats)) {
    await rm(tempPath, { force: true });
    return outcome(action, 'STALE', { error: 'the stub changed while the file was recalled' });
  }
  if (lease?.lost) {
    await rm(tempPath, { force: true });
    throwIfLeaseLost(lease, 'the recalled content replaced the stub');
  }
  // The stub's offline attribute does not carry over, so nothing clears it. The content
  // is a new file, and on Windows libuv renames with MoveFileExW and
  // MOVEFILE_REPLACE_EXISTING, which replaces the stub, attributes included.
  await rename(tempPath, file.path);
  await context.folders.sync(file.folder);
  faultPoint('recall.restored');

  return outcome(action, 'REHYDRATED', { sha256: digest.sha256, sizeBytes: digest.sizeBytes });
}

/**
 * Checks a file found where the stub was. It is REHYDRATED when its content is what was
 * tiered, because an earlier run restored it without reporting, and STALE otherwise.
 */
async function confirmEarlierRecall(action: ClaimedAction, filePath: string | Buffer, stats: BigIntStats): Promise<ActionResult> {
  if (!stats.isFile() || stats.size !== BigInt(action.sizeBytes)) {
    return outcome(action, 'STALE', { error: 'the stub was replaced by another file' });
  }
  const handle = await open(filePath, READ_CHECKED_FILE);
  let digest;
  try {
    digest = await digestFile(handle.fd);
  } finally {
    await handle.close();
  }
  if (digest.sha256 !== action.sha256) {
    return outcome(action, 'STALE', { error: 'the stub was replaced by another file of the same size' });
  }
  return outcome(action, 'REHYDRATED', { sha256: digest.sha256, sizeBytes: digest.sizeBytes });
}

/** Streams the object into `tempPath`, flushes it with the stub's mode and owner and the original times. */
async function downloadTo(
  tempPath: string | Buffer,
  key: string,
  stubStats: BigIntStats,
  stub: StubContent,
  store: Tier2Store,
): Promise<ContentDigest> {
  const body = await store.get(key);
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const handle = await createFreshHandle(tempPath, 0o600);
  try {
    // Written with plain writes: a stream on the handle would keep the handle's close waiting.
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      await writeFully(handle, chunk);
      if (sizeBytes === 0) {
        faultPoint('recall.copying');
      }
      sizeBytes += chunk.length;
    }
    if (process.platform !== 'win32') {
      await handle.chmod(Number(stubStats.mode & 0o7777n));
      await handle.chown(Number(stubStats.uid), Number(stubStats.gid)).catch((error: NodeJS.ErrnoException) => {
        // Only root may give a file away; otherwise the file keeps the agent's owner.
        if (error.code !== 'EPERM') {
          throw error;
        }
      });
    }
    await handle.utimes(nanosecondsToSeconds(stubStats.atimeNs), nanosecondsToSeconds(BigInt(stub.mtimeNs)));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { sizeBytes, sha256: hash.digest('hex') };
}
