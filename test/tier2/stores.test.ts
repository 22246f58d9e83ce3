import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AzureBlobStore } from '../../src/tier2/azureBlobStore.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { S3Store } from '../../src/tier2/s3Store.ts';
import { startAzurite } from '../support/azurite.ts';
import { startS3Server } from '../support/s3Server.ts';
import { describeStoreContract } from './storeContract.ts';

// The call set changes only how calls run, so both must pass the same contract.
for (const metadataCalls of ['synchronous', 'thread-pool'] as const) {
  describeStoreContract(`FsStore with ${metadataCalls} metadata calls`, async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'strata-fsstore-'));
    return { store: new FsStore(root, { metadataCalls }), stop: () => rm(root, { recursive: true, force: true }) };
  });
}

describeStoreContract(
  'S3Store on s3rver',
  async () => {
    const server = await startS3Server();
    return { store: new S3Store({ ...server.config, prefix: 'tenant/tier2' }), stop: server.stop };
  },
  {
    unmovable: { pattern: /[+#?]/, reason: 's3rver 3.7 decodes the copy source with decodeURI' },
    unorderedListing: 's3rver 3.7 lists in the order it walks its folders',
  },
);

describeStoreContract('AzureBlobStore on Azurite', async () => {
  const server = await startAzurite();
  return { store: new AzureBlobStore({ ...server.config, prefix: 'tenant/tier2' }), stop: server.stop };
});
