/**
 * Replacing a file by its stub: in place (stubInPlace.ts) for most files, or by writing
 * the stub beside the file and renaming it over the file.
 *
 * The rename keeps the original inode alive for every process that has it open or
 * mapped, while an in-place write changes what they read, and cutting a mapped file
 * makes its mapping fault (SIGBUS). So files that look like programs or libraries (by
 * their first bytes) take the rename, as do files the agent may not write to.
 */
import { closeSync, fchmodSync, fchownSync, fstatSync, futimesSync, lstatSync, rmSync, type BigIntStats } from 'node:fs';
import { rename } from 'node:fs/promises';

import type { FolderSyncer } from '../../src/tier2/folderSyncer.ts';
import { faultPoint } from './faultHooks.ts';
import { unchangedSince } from './fileState.ts';
import { tempPathFor, type LocalFile } from './localPath.ts';
import { createFresh, writeFullySync } from './safeOpen.ts';
import { fsyncAsync, nanosecondsToSeconds, writeStubInPlace, type StubTimes } from './stubInPlace.ts';

/**
 * First bytes of executables and shared libraries: ELF, Mach-O (32 and 64 bit, either
 * byte order, and universal), Windows PE, and scripts with an interpreter line.
 */
const PROGRAM_MAGICS = [
  Buffer.from([0x7f, 0x45, 0x4c, 0x46]),
  Buffer.from([0xfe, 0xed, 0xfa, 0xce]),
  Buffer.from([0xfe, 0xed, 0xfa, 0xcf]),
  Buffer.from([0xce, 0xfa, 0xed, 0xfe]),
  Buffer.from([0xcf, 0xfa, 0xed, 0xfe]),
  Buffer.from([0xca, 0xfe, 0xba, 0xbe]),
  Buffer.from('MZ'),
  Buffer.from('#!'),
];

/** Returns whether a file's first bytes are those of a program or library, which a process may have mapped. */
export function looksLikeProgram(head: Buffer): boolean {
  return PROGRAM_MAGICS.some((magic) => head.length >= magic.length && head.subarray(0, magic.length).equals(magic));
}

/**
 * Replaces the file that `seen` describes by the stub `content` with the given times.
 * `head` is the file's start, for the program check. Returns false, with nothing
 * replaced, when the file changed since `seen`.
 */
export async function replaceWithStub(file: LocalFile, seen: BigIntStats, head: Buffer, content: Buffer, times: StubTimes, folders: FolderSyncer): Promise<boolean> {
  if (!looksLikeProgram(head)) {
    const inPlace = await writeStubInPlace(file.path, seen, content, times, () => faultPoint('tier.stub-written'));
    if (inPlace !== 'not-writable') return inPlace === 'written';
  }
  return renameStubOver(file, seen, content, times, folders);
}

/**
 * Writes the stub under a temporary name in the same folder with the original's mode,
 * owner and the given times, flushes it, checks the original once more, and renames the
 * stub over it. The stub is a new file, so the original's ACLs and extended attributes
 * do not carry over. Returns false when the original changed.
 */
async function renameStubOver(file: LocalFile, seen: BigIntStats, content: Buffer, times: StubTimes, folders: FolderSyncer): Promise<boolean> {
  const tempPath = tempPathFor(file, 'stub');
  try {
    await writeStubFile(tempPath, content, seen, times);
  } catch (error) {
    // A full disk or a size limit can leave part of a stub, which must not stay beside the file.
    rmSync(tempPath, { force: true });
    throw error;
  }
  faultPoint('tier.stub-written');

  const current = lstatSync(file.path, { bigint: true, throwIfNoEntry: false });
  if (current === undefined || !current.isFile() || !unchangedSince(seen, current)) {
    rmSync(tempPath, { force: true });
    return false;
  }

  // NOTE: a process that writes to the original between this check and the rename loses
  // that write to the stub. POSIX has no way to rename only if unchanged. On Windows a
  // share-mode lock on the original would close the gap, which Node cannot take.
  await rename(tempPath, file.path);
  await folders.sync(file.folder);
  return true;
}

/** Writes the stub's bytes to `filePath` with the mode and owner of `like` and the given times, and flushes it. */
async function writeStubFile(filePath: string | Buffer, content: Buffer, like: BigIntStats, times: StubTimes): Promise<void> {
  const fd = await createFresh(filePath, 0o600);
  try {
    writeFullySync(fd, content);
    copyOwnerAndMode(fd, like);
    futimesSync(fd, nanosecondsToSeconds(times.atimeNs), nanosecondsToSeconds(times.mtimeNs));
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Gives an open file the mode and owner of `like`. */
function copyOwnerAndMode(fd: number, like: BigIntStats): void {
  if (process.platform === 'win32') return;

  fchmodSync(fd, Number(like.mode & 0o7777n));
  const own = fstatSync(fd, { bigint: true });
  if (own.uid === like.uid && own.gid === like.gid) return;
  try {
    fchownSync(fd, Number(like.uid), Number(like.gid));
  } catch (error) {
    // Only root may give a file away, so another user's stub keeps the agent's owner,
    // as the README documents.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
}
