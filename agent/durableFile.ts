/** Flushing files and folders to disk, so that a power loss cannot leave a file with its final name half written. */
import { open } from 'node:fs/promises';

/** Writes a file and flushes it to disk before returning. */
export async function writeFileDurably(filePath: string, content: string): Promise<void> {
  const handle = await open(filePath, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Flushes a folder's entries, so that a rename into it survives a power loss. Windows
 * cannot open a folder for this, and NTFS journals renames itself, so it is skipped there.
 */
export async function syncFolder(folder: string | Buffer): Promise<void> {
  if (process.platform === 'win32') {
    return;
  }
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a file written by a stream to disk. */
export async function syncFile(filePath: string): Promise<void> {
  const handle = await open(filePath, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
