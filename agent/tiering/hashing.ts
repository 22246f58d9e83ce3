/** Size and SHA-256 of content, from memory, streams and open files. */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';

/** Bytes read from a file per call. */
const READ_CHUNK_BYTES = 1024 * 1024;

/** Size and hex SHA-256 of some content. */
export interface ContentDigest {
  sizeBytes: number;
  sha256: string;
}

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

/** Reads a stream to its end and returns its size and SHA-256. */
export async function digestStream(stream: Readable): Promise<ContentDigest> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  return { sizeBytes, sha256: hash.digest('hex') };
}

export function digestBuffer(content: Buffer): ContentDigest {
  return { sizeBytes: content.length, sha256: createHash('sha256').update(content).digest('hex') };
}

/**
 * Yields a file's content from offset 0 in chunks, through positioned reads. Streams made
 * by FileHandle.createReadStream hold the handle until they close, which makes
 * FileHandle.close() wait, so the agent reads open handles this way.
 */
export async function* readChunks(handle: FileHandle): AsyncGenerator<Buffer> {
  let position = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) {
      return;
    }
    position += bytesRead;
    yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }
}

/** Hashes an open file's content from offset 0. */
export async function digestFile(handle: FileHandle): Promise<ContentDigest> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of readChunks(handle)) {
    hash.update(chunk);
    sizeBytes += chunk.length;
  }
  return { sizeBytes, sha256: hash.digest('hex') };
}
