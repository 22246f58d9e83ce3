/** Size and SHA-256 of content, from memory, streams and open files. */
import { createHash } from 'node:crypto';
import { read } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';

import type { ContentDigest } from '../../src/tier2/tier2Store.ts';

export type { ContentDigest } from '../../src/tier2/tier2Store.ts';

/** Bytes read from a file per call. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * A pass-through stream that counts what flows through it and calls `onFirstChunk` once,
 * after the first chunk was passed on: the fault hook of a copy. It does not hash,
 * because every store checks the body against the SHA-256 given to `put`.
 */
export class CountingStream extends Transform {
  readonly #onFirstChunk: (() => void) | undefined;
  sizeBytes = 0;

  constructor(onFirstChunk?: () => void) {
    super();
    this.#onFirstChunk = onFirstChunk;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const first = this.sizeBytes === 0;
    this.sizeBytes += chunk.length;
    this.push(chunk);
    if (first) {
      this.#onFirstChunk?.();
    }
    callback();
  }
}

export function digestBuffer(content: Buffer): ContentDigest {
  return { sizeBytes: content.length, sha256: createHash('sha256').update(content).digest('hex') };
}

/**
 * Reads into `buffer` at `offset` from the file position `position` and resolves with
 * the bytes read. It takes a plain descriptor, so callers can open and close it with
 * synchronous calls, for the reason given in tierFile.ts.
 */
export function readAt(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
  });
}

/** Yields an open file's content from offset 0 in chunks, through positioned reads. */
export async function* readChunks(fd: number): AsyncGenerator<Buffer> {
  let position = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    const bytesRead = await readAt(fd, buffer, 0, buffer.length, position);
    if (bytesRead === 0) {
      return;
    }
    position += bytesRead;
    yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }
}

/** Hashes an open file's content from offset 0. */
export async function digestFile(fd: number): Promise<ContentDigest> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of readChunks(fd)) {
    hash.update(chunk);
    sizeBytes += chunk.length;
  }
  return { sizeBytes, sha256: hash.digest('hex') };
}
