import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { AzureTargetConfig } from '../../src/tier2/targetConfig.ts';
import { startChildServer } from './childServer.ts';

/** Azurite's documented development account; its key is public and fixed. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite blob service and the target config of its one container. */
export interface AzuriteServer {
  config: AzureTargetConfig & { accountKey: string };
  stop(): Promise<void>;
}

/**
 * Start Azurite's blob service from npm as a child process on 127.0.0.1, on a port the
 * system chooses, keeping data in memory, with telemetry off, then create a container
 * with the development account. `stop` ends that child only.
 */
export async function startAzurite(container = 'tier2-test'): Promise<AzuriteServer> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'strata-azurite-'));
  const script = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  try {
    const server = await startChildServer(
      'Azurite',
      script,
      ['--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--disableTelemetry'],
      /successfully listens on (http:\/\/127\.0\.0\.1:\d+)/,
      { cwd: workDir },
    );
    const stop = async () => {
      await server.stop();
      await rm(workDir, { recursive: true, force: true });
    };

    const accountUrl = `${server.ready}/${AZURITE_ACCOUNT}`;
    try {
      const service = new BlobServiceClient(accountUrl, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
      await service.getContainerClient(container).createIfNotExists();
    } catch (error) {
      await stop();
      throw error;
    }
    return { config: { kind: 'azure', container, accountUrl, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY }, stop };
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}
