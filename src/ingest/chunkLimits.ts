import { Transform, type TransformCallback } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';
import { StrataError } from '../errors.ts';

/**
 * Pass bytes through unchanged and fail with a 413 naming `limitName` once more than
 * `maxBytes` have gone by, so an oversized or gzip-bomb body is cut off while streaming
 * rather than after it has been read.
 */
export class ByteLimit extends Transform {
  bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly limitName: string,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      callback(StrataError.tooLarge(this.limitName, `${this.what} exceeds ${this.maxBytes} bytes (${this.limitName})`));
      return;
    }
    callback(null, chunk);
  }
}

/** Pass bytes through while computing their SHA-256. */
export class Sha256Tap extends Transform {
  private readonly hash: Hash = createHash('sha256');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }

  digest(): Buffer {
    return this.hash.digest();
  }
}
