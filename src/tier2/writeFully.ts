/** Writing a whole buffer through a FileHandle. */
import type { FileHandle } from 'node:fs/promises';

/**
 * Writes all of `content` at the handle's position with one call, looping only when a
 * write takes less than it is given (a full disk, a file-size limit). FileHandle.write
 * makes one write, and FileHandle.writeFile splits a Buffer into writes of 512 KiB,
 * each a round trip through the thread pool.
 */
export async function writeFully(handle: FileHandle, content: Buffer): Promise<void> {
  for (let offset = 0; offset < content.length; ) {
    const { bytesWritten } = await handle.write(content, offset, content.length - offset);
    offset += bytesWritten;
  }
}
