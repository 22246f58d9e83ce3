/**
 * Target configuration: the Tier-2 location of a share's files. Each kind's settings are split into the fields
 * that may be shown and stored in clear (`settings`) and the credentials, which are
 * stored sealed with the tenant's data key and never shown.
 */

/** A folder: local, a mounted SMB share, or a UNC path on Windows. */
export interface FsTargetConfig {
  kind: 'fs';
  /** Absolute path of the folder objects are stored under. */
  root: string;
}

/** An S3 bucket (AWS or an S3-compatible server), under an optional key prefix. */
export interface S3TargetConfig {
  kind: 's3';
  bucket: string;
  /** Key prefix inside the bucket, without a leading `/`. */
  prefix?: string;
  region: string;
  /** Service URL for S3-compatible servers; AWS's regional endpoint when absent. */
  endpoint?: string;
  /** Address the bucket in the path rather than the host name (most S3-compatible servers need this). */
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
}

/** An Azure Blob container, under an optional name prefix, with a shared key or a SAS token. */
export interface AzureTargetConfig {
  kind: 'azure';
  container: string;
  /** Blob name prefix inside the container, without a leading `/`. */
  prefix?: string;
  /** The Blob service URL, e.g. `https://<account>.blob.core.windows.net`. */
  accountUrl: string;
  accountName: string;
  /** The account's shared key; give this or `sasToken`. */
  accountKey?: string;
  /** A SAS token (the query string, with or without `?`) valid for the container. */
  sasToken?: string;
}

export type TargetConfig = FsTargetConfig | S3TargetConfig | AzureTargetConfig;

/** The credential fields of each kind; everything else is a non-secret setting. */
export const CREDENTIAL_FIELDS = {
  fs: [],
  s3: ['accessKeyId', 'secretAccessKey', 'sessionToken'],
  azure: ['accountKey', 'sasToken'],
} as const satisfies Record<TargetConfig['kind'], readonly string[]>;
