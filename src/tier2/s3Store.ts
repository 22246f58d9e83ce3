import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { Tier2ContentMismatchError, Tier2NotFoundError, tier2Failure } from './errors.ts';
import { decodeFullKey, encodeFullKey } from './fullKeyMetadata.ts';
import { pieceBytesFor } from './pieceSize.ts';
import { assertValidKey, assertValidPrefix, normalizeStorePrefix, pageSizeOf } from './objectKeys.ts';
import type { S3TargetConfig } from './targetConfig.ts';
import type { ContentDigest, PutOptions, Tier2Object, Tier2Page, Tier2Store } from './tier2Store.ts';
import { contentMismatch, digestStream, hashing } from './verifiedBody.ts';

/** S3 allows 2 KB of user metadata per object; the SHA-256 takes about 70 bytes of it. */
const MAX_FULL_KEY_METADATA_BYTES = 1500;
/** Smallest part of a multipart upload; larger bodies get larger parts (partBytesFor). */
const PART_BYTES = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;
/** S3 allows 10,000 parts per upload; the rest is a margin for a body that grew while read. */
const MAX_PARTS = 9000;
/** CopyObject copies at most 5 GiB; larger objects are copied part by part. */
const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
const COPY_PART_BYTES = 512 * 1024 ** 2;

export interface S3StoreOptions {
  /** Objects larger than this are copied by `move` with UploadPartCopy (default 5 GiB, the CopyObject limit). */
  maxSingleCopyBytes?: number;
  /** Part size of such a copy (default 512 MiB; S3 needs at least 5 MiB except for the last part). */
  copyPartBytes?: number;
}

/**
 * A Tier-2 store in an S3 bucket, under an optional prefix. The SHA-256 is stored as the
 * object's user metadata `sha256`. A body larger than one part goes up as a multipart
 * upload, which S3 makes visible only when it completes.
 *
 * The client gets its credentials from the target only, never from the default provider
 * chain, so it does not read the environment, profile files or instance metadata.
 */
export class S3Store implements Tier2Store {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly secrets: string[];
  private readonly maxSingleCopyBytes: number;
  private readonly copyPartBytes: number;

  constructor(config: S3TargetConfig, options: S3StoreOptions = {}) {
    this.bucket = config.bucket;
    this.prefix = normalizeStorePrefix(config.prefix);
    this.secrets = [config.accessKeyId, config.secretAccessKey, ...(config.sessionToken ? [config.sessionToken] : [])];
    this.maxSingleCopyBytes = options.maxSingleCopyBytes ?? MAX_SINGLE_COPY_BYTES;
    this.copyPartBytes = options.copyPartBytes ?? COPY_PART_BYTES;
    this.client = new S3Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle ?? false,
      credentials: {
        accessKeyId: config.accessKeyId,
        secretAccessKey: config.secretAccessKey,
        ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
      },
      // With the default (WHEN_SUPPORTED) a streamed PutObject is sent with aws-chunked
      // framing, which S3-compatible servers that do not support it store inside the object.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions): Promise<void> {
    const name = this.objectName(key);
    const written = hashing(body);
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: name, Body: written, Metadata: metadataOf(options) },
        partSize: partBytesFor(options.sizeBytes),
        queueSize: PARTS_IN_FLIGHT,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (error) {
      // The upload may stop before reading the body to its end; close the source now.
      if (!Buffer.isBuffer(body)) body.destroy();
      throw tier2Failure(this.kind, 'put', key, error, this.secrets);
    }

    // S3 has already replaced the object, so a body that changed while it was read is removed.
    const mismatch = contentMismatch(written, options.sizeBytes, options.sha256);
    if (mismatch) {
      await this.delete(key);
      throw new Tier2ContentMismatchError(key, mismatch);
    }
  }

  async head(key: string): Promise<Tier2Object | null> {
    const name = this.objectName(key);
    try {
      const result = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: name }));
      const sha256 = result.Metadata?.sha256;
      const fullKey = decodeFullKey(result.Metadata?.['full-key']);
      return {
        key,
        sizeBytes: result.ContentLength ?? 0,
        ...(sha256 ? { sha256 } : {}),
        ...(result.LastModified ? { lastModified: result.LastModified } : {}),
        ...(fullKey ? { fullKey } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw tier2Failure(this.kind, 'head', key, error, this.secrets);
    }
  }

  async get(key: string): Promise<Readable> {
    const name = this.objectName(key);
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: name }));
      return result.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new Tier2NotFoundError(this.kind, key);
      throw tier2Failure(this.kind, 'get', key, error, this.secrets);
    }
  }

  async readBack(key: string): Promise<ContentDigest> {
    return digestStream(await this.get(key));
  }

  async list(prefix: string, pageToken: string | null, pageSize?: number): Promise<Tier2Page> {
    assertValidPrefix(prefix);
    const maxKeys = pageSizeOf(pageSize);
    try {
      // URL encoding keeps keys with characters that XML 1.0 cannot carry listable.
      const result = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.prefix}${prefix}`,
          MaxKeys: maxKeys,
          EncodingType: 'url',
          ...(pageToken ? { ContinuationToken: pageToken } : {}),
        }),
      );
      // A server that ignores the encoding request (s3rver 3.7 does) leaves EncodingType
      // out of its response, and its keys are then plain.
      const encoded = result.EncodingType === 'url';
      const objects = (result.Contents ?? []).map((entry) => ({
        key: (encoded ? decodeListedKey(entry.Key ?? '') : (entry.Key ?? '')).slice(this.prefix.length),
        sizeBytes: entry.Size ?? 0,
        ...(entry.LastModified ? { lastModified: entry.LastModified } : {}),
      }));
      return { objects, nextToken: result.IsTruncated ? (result.NextContinuationToken ?? null) : null };
    } catch (error) {
      throw tier2Failure(this.kind, 'list', prefix, error, this.secrets);
    }
  }

  async delete(key: string): Promise<void> {
    const name = this.objectName(key);
    try {
      // S3 returns 204 for a key that does not exist, so a repeated delete succeeds.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: name }));
    } catch (error) {
      throw tier2Failure(this.kind, 'delete', key, error, this.secrets);
    }
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    assertValidKey(toKey);
    const source = await this.head(fromKey);
    if (!source) {
      // Done before: the copy exists and the source is gone.
      if (await this.head(toKey)) return;
      throw new Tier2NotFoundError(this.kind, fromKey);
    }
    if (fromKey === toKey) return;

    try {
      if (source.sizeBytes > this.maxSingleCopyBytes) await this.copyInParts(fromKey, toKey, source.sizeBytes);
      else await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.objectName(toKey), CopySource: this.copySource(fromKey), MetadataDirective: 'COPY' }));
    } catch (error) {
      throw tier2Failure(this.kind, 'move', fromKey, error, this.secrets);
    }
    await this.delete(fromKey);
  }

  /** Copy an object too large for CopyObject with a multipart upload of ranged part copies. */
  private async copyInParts(fromKey: string, toKey: string, sizeBytes: number): Promise<void> {
    const sourceHead = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectName(fromKey) }));
    const target = { Bucket: this.bucket, Key: this.objectName(toKey) };
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ ...target, Metadata: sourceHead.Metadata }));
    // A 5 TiB object, the S3 maximum, needs parts over 512 MiB to stay within 10,000 parts.
    const partBytes = Math.max(this.copyPartBytes, Math.ceil(sizeBytes / MAX_PARTS));
    try {
      const parts = [];
      for (let start = 0, number = 1; start < sizeBytes; start += partBytes, number++) {
        const end = Math.min(start + partBytes, sizeBytes) - 1;
        const result = await this.client.send(
          new UploadPartCopyCommand({ ...target, UploadId, PartNumber: number, CopySource: this.copySource(fromKey), CopySourceRange: `bytes=${start}-${end}` }),
        );
        parts.push({ PartNumber: number, ETag: result.CopyPartResult?.ETag });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (error) {
      await this.client.send(new AbortMultipartUploadCommand({ ...target, UploadId })).catch(() => {
        // The copy's own error is the one to report. An upload left open stays until a
        // lifecycle rule for incomplete multipart uploads removes it.
      });
      throw error;
    }
  }

  /**
   * Build the CopySource header: bucket and key, URL-encoded. The characters `&$@=;:,`
   * are left as they are, because s3rver 3.7 decodes this header with decodeURI, which
   * leaves their escapes undecoded, and a percent-decoder reads a plain character as itself.
   * NOTE: for the same reason a move of a key with `+`, `#` or `?` fails on s3rver.
   */
  private copySource(key: string): string {
    const encoded = encodeURIComponent(this.objectName(key)).replace(/%(26|24|40|3D|3B|3A|2C|2F)/g, (escape) => decodeURIComponent(escape));
    return `${this.bucket}/${encoded}`;
  }

  private objectName(key: string): string {
    assertValidKey(key);
    return `${this.prefix}${key}`;
  }
}

/**
 * Choose the part size for a body: 8 MiB, or more for bodies over about 70 GiB so the
 * upload stays under S3's 10,000 parts. Up to PARTS_IN_FLIGHT parts are held in memory.
 */
export function partBytesFor(sizeBytes: number): number {
  return pieceBytesFor(sizeBytes, PART_BYTES, MAX_PARTS);
}

/** Build the user metadata of a put: the SHA-256, and the full key when it fits. */
function metadataOf(options: PutOptions): Record<string, string> {
  const fullKey = options.fullKey === undefined ? undefined : encodeFullKey(options.fullKey, MAX_FULL_KEY_METADATA_BYTES);
  return { sha256: options.sha256.toLowerCase(), ...(fullKey ? { 'full-key': fullKey } : {}) };
}

/**
 * Decode a key from a listing requested with `EncodingType=url`, as form encoding: a
 * `+` is a space and a literal `+` arrives as `%2B`.
 * NOTE: tested only on keys encoded here; s3rver does not encode listings.
 */
export function decodeListedKey(encoded: string): string {
  return decodeURIComponent(encoded.replaceAll('+', ' '));
}

/**
 * Tell a missing object: GET returns NoSuchKey, and a HEAD response has no body, so the
 * SDK names its 404 NotFound.
 * NOTE: a HEAD on a missing bucket looks the same, so `head` returns null there too.
 */
function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === 'NotFound' || name === 'NoSuchKey';
}
