import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AzureBlobStore } from '../../src/tier2/azureBlobStore.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { S3Store } from '../../src/tier2/s3Store.ts';
import { startAzurite } from '../support/azurite.ts';
import { startS3Server } from '../support/s3Server.ts';
import { describeRemediation } from './remediationScenario.ts';

describeRemediation('a filesystem', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'strata-sanitize-fs-'));
  return { store: new FsStore(root), stop: () => rm(root, { recursive: true, force: true }) };
});

describeRemediation('S3 (s3rver)', async () => {
  const server = await startS3Server();
  return { store: new S3Store({ ...server.config, prefix: 'acme/tier2' }), stop: server.stop };
});

describeRemediation('Azure Blob (Azurite)', async () => {
  const server = await startAzurite();
  return { store: new AzureBlobStore({ ...server.config, prefix: 'acme/tier2' }), stop: server.stop };
});
