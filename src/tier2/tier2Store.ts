import type { Readable } from 'node:stream';

/** The kinds of Tier-2 storage a share can tier to. */
export const TIER2_KINDS = ['fs', 's3', 'azure'] as const;
export type Tier2Kind = (typeof TIER2_KINDS)[number];

/** One object as Tier-2 lists or describes it. */
export interface Tier2Object {
  /** The object's key, relative to the target's root or prefix, with `/` between segments. */
  key: string;
  sizeBytes: number;
  /** Hex SHA-256 of the content when it was stored with the object, else undefined. */
  sha256?: string;
  lastModified?: Date;
  /** The full key stored with an object under a hashed key (`PutOptions.fullKey`), where the store returns it. */
  fullKey?: string;
}

/** Size and hex SHA-256 of some content. */
export interface ContentDigest {
  sizeBytes: number;
  sha256: string;
}

/** One page of a listing; `nextToken` is null on the last page. */
export interface Tier2Page {
  objects: Tier2Object[];
  nextToken: string | null;
}

export interface PutOptions {
  sizeBytes: number;
  /** Hex SHA-256 of the content, stored with the object so a later listing can compare it. */
  sha256: string;
  /**
   * The object's full, reversible key when `key` is its hashed form (src/acting/tier2Key.ts).
   * Stores keep it with the object where their metadata has room: S3 up to about 1.5 KB
   * compressed, Azure up to about 7 KB, the filesystem store always.
   */
  fullKey?: string;
}

/**
 * A Tier-2 location: a filesystem root (a local folder or a mounted SMB share), an S3
 * bucket prefix or an Azure Blob container prefix. The agent uses it to copy and recall
 * files, and the server to list and quarantine objects. Every method is safe to retry.
 */
export interface Tier2Store {
  readonly kind: Tier2Kind;

  /**
   * Store `body` under `key`, replacing an object left by an earlier failed attempt. A
   * stream is hashed as it is written and rejected with Tier2ContentMismatchError when
   * it differs from `options`. A Buffer contains bytes the caller has just hashed, so
   * only its size is checked, and the caller compares `readBack` with its hash afterwards.
   */
  put(key: string, body: Readable | Buffer, options: PutOptions): Promise<void>;

  /** Describe one object, or return null when it does not exist. */
  head(key: string): Promise<Tier2Object | null>;

  /** Stream one object's content; rejects with a not-found error when it does not exist. */
  get(key: string): Promise<Readable>;

  /**
   * Read one object's content to its end and return its size and SHA-256, which verifies
   * a copy. Rejects with a not-found error when the object does not exist.
   */
  readBack(key: string): Promise<ContentDigest>;

  /** List objects whose key starts with `prefix`, one page at a time, in key order. */
  list(prefix: string, pageToken: string | null, pageSize?: number): Promise<Tier2Page>;

  /** Delete one object; deleting an object that does not exist succeeds. */
  delete(key: string): Promise<void>;

  /** Move one object to another key (quarantine); a move already done succeeds. */
  move(fromKey: string, toKey: string): Promise<void>;
}
