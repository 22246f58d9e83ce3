import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';

import type { ContentDigest } from './tier2Store.ts';

/**
 * A pass-through stream that counts and hashes what flows through it, so a store can
 * check the body it wrote against the size and SHA-256 the caller declared.
 */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** Hex SHA-256 of everything that passed; call once, after the stream ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Pipe `body` through a HashingStream and return it, passing errors on. A Buffer is sent as one chunk. */
export function hashing(body: Readable | Buffer): HashingStream {
  const source = Buffer.isBuffer(body) ? Readable.from([body], { objectMode: false }) : body;
  const hashingStream = new HashingStream();
  source.on('error', (error) => hashingStream.destroy(error));
  return source.pipe(hashingStream);
}

/** Read a stream to its end and return its size and SHA-256. */
export async function digestStream(stream: Readable): Promise<ContentDigest> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  return { sizeBytes, sha256: hash.digest('hex') };
}

/** Describe how a written body differs from what the caller declared, or return undefined. */
export function contentMismatch(written: HashingStream, sizeBytes: number, sha256: string): string | undefined {
  const digest = written.digest();
  if (written.bytes !== sizeBytes) return `the body was ${written.bytes} bytes, not the declared ${sizeBytes}`;
  if (digest !== sha256.toLowerCase()) return `the body's SHA-256 is ${digest}, not the declared ${sha256}`;
  return undefined;
}
