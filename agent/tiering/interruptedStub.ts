/**
 * Interrupted stubs: what a run killed between writing a stub in place and cutting the
 * file leaves behind, a complete stub followed by the rest of the original.
 *
 * The next claim of the file completes it, whether or not the claim still matches the
 * file (a rescan records the file as the kill left it). Copying such a file to Tier-2
 * would replace the verified object by a half-stubbed file.
 *
 * Before cutting, the rest of the file is compared with the Tier-2 object, because a
 * process may have written to the file since the kill. A file that differs gets the
 * original's first bytes back from Tier-2, so it is whole again with those writes, and
 * the action ends STALE.
 */
import { closeSync, type BigIntStats } from 'node:fs';

import type { ActionResult, ClaimedAction } from '../../src/wire/acting.ts';
import { readAt } from './hashing.ts';
import type { LocalFile } from './localPath.ts';
import { outcome } from './outcome.ts';
import { replaceWithStub } from './replaceWithStub.ts';
import { READ_CHECKED_FILE } from './safeOpen.ts';
import { formatStub, parseStub, STUB_SIZE_BYTES, type StubContent } from './stub.ts';
import { fsyncAsync, openIfUnchanged, WRITE_IN_PLACE, writeAtStart, type NotOpened } from './stubInPlace.ts';
import type { TierContext } from './tierFile.ts';

/**
 * Returns the stub of the claimed key at the start of a file larger than a stub, from
 * the file's first bytes `head`, or undefined for any other file.
 */
export function interruptedStubOf(head: Buffer, stats: BigIntStats, action: ClaimedAction, context: TierContext): StubContent | undefined {
  if (!stats.isFile() || stats.size <= BigInt(STUB_SIZE_BYTES) || head.length < STUB_SIZE_BYTES) return undefined;

  const stub = parseStub(head.subarray(0, STUB_SIZE_BYTES));
  return stub?.key === action.tier2Key && stub.kind === context.store.kind ? stub : undefined;
}

/**
 * Completes the interrupted stub `stub` of the file `seen` describes when the rest of the
 * file is still the original's, and reports it STUBBED. Otherwise restores the file's
 * first bytes from Tier-2 and reports it STALE. The file is left as it is when the
 * Tier-2 object is missing or different.
 */
export async function completeInterruptedStub(action: ClaimedAction, file: LocalFile, seen: BigIntStats, stub: StubContent, context: TierContext): Promise<ActionResult> {
  const object = await context.store.head(stub.key);
  if (object === null || object.sizeBytes !== stub.size || (object.sha256 !== undefined && object.sha256 !== stub.sha256)) {
    return outcome(action, 'FAILED', {
      error: `the file starts with a stub of ${stub.key} left by an interrupted run, but that Tier-2 object is ${object === null ? 'missing' : 'different'}; the file is kept as it is`,
    });
  }
  if (stub.size <= STUB_SIZE_BYTES) {
    // One write makes a whole stub of a file this small, so the bytes after it were written since.
    return outcome(action, 'STALE', { error: 'the file is a stub followed by bytes written since; it is kept as it is' });
  }

  const compared = await compareWithObject(file.path, seen, stub, context);
  if (compared === 'changed') {
    return outcome(action, 'STALE', { error: 'the file changed while an interrupted stub was being checked' });
  }
  if (compared === 'not-writable') {
    return outcome(action, 'FAILED', { error: 'the file starts with a stub left by an interrupted run, but the agent may not read it now' });
  }

  if (compared.same) {
    const mtimeNs = BigInt(stub.mtimeNs);
    // The original access time was lost with the killed run; the modification time serves for both.
    const replaced = await replaceWithStub(file, seen, compared.objectHead, formatStub(stub), { atimeNs: mtimeNs, mtimeNs }, context.folders);
    if (!replaced) {
      return outcome(action, 'STALE', { error: 'the file changed while an interrupted stub was being completed' });
    }
    await context.offline.markStub(action, file.path);
    return outcome(action, 'STUBBED', { sha256: stub.sha256, sizeBytes: stub.size });
  }

  const restored = await restoreStart(file.path, seen, compared.objectHead);
  if (restored === 'not-writable') {
    return outcome(action, 'FAILED', {
      error: `the file changed after a run was killed while stubbing it, and its first ${compared.objectHead.length} bytes cannot be restored from Tier-2 object ${stub.key}: the agent may not write to it`,
    });
  }
  if (restored === 'changed') {
    return outcome(action, 'STALE', { error: 'the file changed while an interrupted stub was being checked' });
  }
  context.logger.warn({ actionId: action.id, key: stub.key }, 'Restored the start of a file changed after an interrupted stub');
  return outcome(action, 'STALE', {
    error: `the file changed after a run was killed while stubbing it; its first ${compared.objectHead.length} bytes were restored from the Tier-2 copy`,
  });
}

/**
 * Compares the local file with the Tier-2 object from the stub's length on, sizes
 * included. Returns the result with the object's first bytes, or why the file could not
 * be opened as `seen` describes it.
 */
async function compareWithObject(
  filePath: string | Buffer,
  seen: BigIntStats,
  stub: StubContent,
  context: TierContext,
): Promise<{ same: boolean; objectHead: Buffer } | NotOpened> {
  const fd = openIfUnchanged(filePath, seen, READ_CHECKED_FILE);
  if (typeof fd !== 'number') return fd;

  try {
    const objectHead = Buffer.alloc(Math.min(STUB_SIZE_BYTES, stub.size));
    let same = seen.size === BigInt(stub.size);
    let position = 0;
    for await (const chunk of await context.store.get(stub.key)) {
      const bytes = chunk as Buffer;
      if (position < objectHead.length) {
        bytes.copy(objectHead, position, 0, Math.min(bytes.length, objectHead.length - position));
      }

      const from = Math.max(position, STUB_SIZE_BYTES);
      const to = position + bytes.length;
      if (same && to > from) {
        const local = Buffer.allocUnsafe(to - from);
        const read = await readAt(fd, local, 0, local.length, from);
        same = read === local.length && local.equals(bytes.subarray(from - position));
      }

      position = to;
      // Leaving the loop ends the object's stream.
      if (!same && position >= objectHead.length) break;
    }
    if (position < objectHead.length) {
      throw new Error(`Tier-2 object ${stub.key} ended after ${position} bytes, ${stub.size} expected`);
    }
    return { same, objectHead };
  } finally {
    closeSync(fd);
  }
}

/** Writes `head` over the start of the file that `seen` describes, and flushes it. */
async function restoreStart(filePath: string | Buffer, seen: BigIntStats, head: Buffer): Promise<'written' | NotOpened> {
  const fd = openIfUnchanged(filePath, seen, WRITE_IN_PLACE);
  if (typeof fd !== 'number') return fd;

  try {
    writeAtStart(fd, head);
    await fsyncAsync(fd);
    return 'written';
  } finally {
    closeSync(fd);
  }
}
