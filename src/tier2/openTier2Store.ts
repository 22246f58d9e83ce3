import { AzureBlobStore } from './azureBlobStore.ts';
import { FsStore } from './fsStore.ts';
import { S3Store } from './s3Store.ts';
import type { TargetConfig } from './targetConfig.ts';
import type { Tier2Store } from './tier2Store.ts';

/** Open the store a target describes. Nothing is contacted until the first call. */
export function openTier2Store(config: TargetConfig): Tier2Store {
  switch (config.kind) {
    case 'fs':
      return new FsStore(config.root);
    case 's3':
      return new S3Store(config);
    case 'azure':
      return new AzureBlobStore(config);
  }
}
