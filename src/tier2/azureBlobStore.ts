import { AnonymousCredential, BlobServiceClient, RestError, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import type { Readable } from 'node:stream';
import { Tier2ContentMismatchError, Tier2NotFoundError, tier2Failure } from './errors.ts';
import { decodeFullKey, encodeFullKey } from './fullKeyMetadata.ts';
import { pieceBytesFor } from './pieceSize.ts';
import { assertValidKey, assertValidPrefix, normalizeStorePrefix, pageSizeOf } from './objectKeys.ts';
import type { AzureTargetConfig } from './targetConfig.ts';
import type { ContentDigest, PutOptions, Tier2Object, Tier2Page, Tier2Store } from './tier2Store.ts';
import { contentMismatch, digestStream, hashing } from './verifiedBody.ts';

/** Azure allows 8 KB of metadata per blob; the rest is left for the SHA-256 and names. */
const MAX_FULL_KEY_METADATA_BYTES = 7000;
/** Smallest block of a streamed upload; larger bodies get larger blocks (blockBytesFor). */
const BLOCK_BYTES = 8 * 1024 * 1024;
const BLOCKS_IN_FLIGHT = 4;
/** A block blob holds 50,000 blocks; the rest is a margin for a body that grew while read. */
const MAX_BLOCKS = 45_000;

/**
 * A Tier-2 store in an Azure Blob container, under an optional prefix. The SHA-256 is
 * the blob's metadata `sha256`. `put` stages blocks and commits the block list at the
 * end, so a failed upload leaves no blob, only uncommitted blocks that Azure discards
 * after seven days.
 */
export class AzureBlobStore implements Tier2Store {
  readonly kind = 'azure' as const;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly secrets: string[];

  constructor(config: AzureTargetConfig) {
    this.prefix = normalizeStorePrefix(config.prefix);
    this.secrets = [config.accountKey, config.sasToken].filter((value): value is string => Boolean(value));

    let service: BlobServiceClient;
    if (config.accountKey) {
      service = new BlobServiceClient(config.accountUrl, new StorageSharedKeyCredential(config.accountName, config.accountKey));
    } else if (config.sasToken) {
      const sas = config.sasToken.replace(/^\?/, '');
      this.secrets.push(sas);
      service = new BlobServiceClient(`${config.accountUrl.replace(/\/+$/, '')}?${sas}`, new AnonymousCredential());
    } else {
      throw new Error(`Azure target of container ${JSON.stringify(config.container)} has neither an account key nor a SAS token`);
    }
    this.container = service.getContainerClient(config.container);
  }

  async put(key: string, body: Readable | Buffer, options: PutOptions): Promise<void> {
    const blob = this.container.getBlockBlobClient(this.blobName(key));
    const written = hashing(body);
    try {
      await blob.uploadStream(written, blockBytesFor(options.sizeBytes), BLOCKS_IN_FLIGHT, { metadata: metadataOf(options) });
    } catch (error) {
      // The upload may stop before reading the body to its end; close the source now.
      if (!Buffer.isBuffer(body)) body.destroy();
      throw tier2Failure(this.kind, 'put', key, error, this.secrets);
    }

    // The block list is committed already, so a body that changed while it was read is removed.
    const mismatch = contentMismatch(written, options.sizeBytes, options.sha256);
    if (mismatch) {
      await this.delete(key);
      throw new Tier2ContentMismatchError(key, mismatch);
    }
  }

  async head(key: string): Promise<Tier2Object | null> {
    const blob = this.container.getBlobClient(this.blobName(key));
    try {
      const properties = await blob.getProperties();
      return objectOf(key, properties.contentLength, properties.lastModified, properties.metadata);
    } catch (error) {
      if (isBlobNotFound(error)) return null;
      throw tier2Failure(this.kind, 'head', key, error, this.secrets);
    }
  }

  async get(key: string): Promise<Readable> {
    const blob = this.container.getBlobClient(this.blobName(key));
    try {
      const response = await blob.download();
      return response.readableStreamBody as Readable;
    } catch (error) {
      if (isBlobNotFound(error)) throw new Tier2NotFoundError(this.kind, key);
      throw tier2Failure(this.kind, 'get', key, error, this.secrets);
    }
  }

  async readBack(key: string): Promise<ContentDigest> {
    return digestStream(await this.get(key));
  }

  async list(prefix: string, pageToken: string | null, pageSize?: number): Promise<Tier2Page> {
    assertValidPrefix(prefix);
    const maxPageSize = pageSizeOf(pageSize);
    try {
      const pages = this.container
        .listBlobsFlat({ prefix: `${this.prefix}${prefix}`, includeMetadata: true })
        .byPage({ maxPageSize, ...(pageToken ? { continuationToken: pageToken } : {}) });
      const { value } = await pages.next();
      const page = value as { segment: { blobItems: { name: string; properties: { contentLength?: number; lastModified?: Date }; metadata?: Record<string, string> }[] }; continuationToken?: string } | undefined;
      const objects = (page?.segment.blobItems ?? []).map((item) =>
        objectOf(item.name.slice(this.prefix.length), item.properties.contentLength, item.properties.lastModified, item.metadata),
      );
      return { objects, nextToken: page?.continuationToken ? page.continuationToken : null };
    } catch (error) {
      throw tier2Failure(this.kind, 'list', prefix, error, this.secrets);
    }
  }

  async delete(key: string): Promise<void> {
    const blob = this.container.getBlobClient(this.blobName(key));
    try {
      await blob.deleteIfExists({ deleteSnapshots: 'include' });
    } catch (error) {
      throw tier2Failure(this.kind, 'delete', key, error, this.secrets);
    }
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    const source = this.container.getBlobClient(this.blobName(fromKey));
    const target = this.container.getBlobClient(this.blobName(toKey));
    if (!(await this.head(fromKey))) {
      // Done before: the copy exists and the source is gone.
      if (await this.head(toKey)) return;
      throw new Tier2NotFoundError(this.kind, fromKey);
    }
    if (fromKey === toKey) return;

    try {
      // A copy within one account is authorised by the target's credentials; it keeps
      // the source's metadata, the SHA-256 included.
      const poller = await target.beginCopyFromURL(source.url, { intervalInMs: 500 });
      await poller.pollUntilDone();
    } catch (error) {
      throw tier2Failure(this.kind, 'move', fromKey, error, this.secrets);
    }
    await this.delete(fromKey);
  }

  private blobName(key: string): string {
    assertValidKey(key);
    return `${this.prefix}${key}`;
  }
}

/**
 * Choose the block size for a body: 8 MiB, or more for bodies over about 350 GiB so the
 * blob stays under 50,000 blocks. Up to BLOCKS_IN_FLIGHT blocks are held in memory.
 */
export function blockBytesFor(sizeBytes: number): number {
  return pieceBytesFor(sizeBytes, BLOCK_BYTES, MAX_BLOCKS);
}

/** Build the user metadata of a put: the SHA-256, and the full key when it fits. */
function metadataOf(options: PutOptions): Record<string, string> {
  const fullKey = options.fullKey === undefined ? undefined : encodeFullKey(options.fullKey, MAX_FULL_KEY_METADATA_BYTES);
  // Azure metadata names must be C# identifiers, so no hyphen.
  return { sha256: options.sha256.toLowerCase(), ...(fullKey ? { fullkey: fullKey } : {}) };
}

function objectOf(key: string, sizeBytes: number | undefined, lastModified: Date | undefined, metadata: Record<string, string> | undefined): Tier2Object {
  const sha256 = metadata?.sha256;
  const fullKey = decodeFullKey(metadata?.fullkey);
  return {
    key,
    sizeBytes: sizeBytes ?? 0,
    ...(sha256 ? { sha256 } : {}),
    ...(lastModified ? { lastModified } : {}),
    ...(fullKey ? { fullKey } : {}),
  };
}

function isBlobNotFound(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404 && (error.code === 'BlobNotFound' || error.code === undefined);
}
