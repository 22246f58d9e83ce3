/**
 * Whether a folder is on a local disk filesystem. The filesystem store makes some
 * calls synchronously there (descriptorCalls.ts), because on a local filesystem a call on
 * metadata that is already in memory returns in microseconds. On a network share
 * (SMB, NFS) or a FUSE mount such a call may wait for a server, so it goes through the
 * thread pool there.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';

/**
 * `f_type` values of Linux's statfs(2) for local disk filesystems, as its man page and
 * the kernel's include/uapi/linux/magic.h list them. ZFS (from OpenZFS) and ntfs3 set
 * theirs in their own sources. FUSE is left out because its server may be remote
 * (sshfs, s3fs), and so are NFS, SMB, CIFS and cluster filesystems.
 */
const LOCAL_FILESYSTEM_TYPES: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/ext3/ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x2fc12fc1, 'zfs'],
  [0xf2f52010, 'f2fs'],
  [0xca451a4e, 'bcachefs'],
  [0x52654973, 'reiserfs'],
  [0x3153464a, 'jfs'],
  [0x5346544e, 'ntfs'],
  [0x7366746e, 'ntfs3'],
  [0x4d44, 'vfat'],
  [0x2011bab0, 'exfat'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlayfs'],
]);

/** Returns the name of a local filesystem type from statfs(2), or undefined for any other type. */
export function localFilesystemName(type: number | bigint): string | undefined {
  // statfs reports the type as a signed or unsigned word depending on the platform.
  const unsigned = Number(BigInt.asUintN(32, BigInt(type)));
  return LOCAL_FILESYSTEM_TYPES.get(unsigned);
}

/**
 * Returns whether `folder`, or its nearest existing parent when it does not exist yet,
 * is on a local disk filesystem. Only Linux reports the filesystem type. On other
 * platforms, and when statfs fails, it returns false, which keeps every call off the
 * event loop.
 *
 * NOTE: a network share mounted below `folder` is judged by `folder`'s own filesystem.
 */
export async function isOnLocalFilesystem(folder: string): Promise<boolean> {
  if (process.platform !== 'linux') return false;

  for (let current = path.resolve(folder); ; current = path.dirname(current)) {
    try {
      return localFilesystemName((await statfs(current)).type) !== undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || current === path.dirname(current)) return false;
    }
  }
}
