import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { S3TargetConfig } from '../../src/tier2/targetConfig.ts';
import { startChildServer } from './childServer.ts';

/** A running s3rver and the target config of its one bucket. */
export interface S3TestServer {
  config: S3TargetConfig;
  /** The folder s3rver stores objects in, to inspect bytes as stored. */
  directory: string;
  stop(): Promise<void>;
}

/**
 * Start s3rver from npm as a child process on 127.0.0.1, on a port the system chooses,
 * storing into a new temporary folder, with one bucket. `stop` ends that child and
 * removes the folder.
 *
 * s3rver 3.7 makes its continuation tokens with DES, which OpenSSL 3 has only in its
 * legacy provider, so the child runs with `--openssl-legacy-provider`. Without it every
 * truncated listing is a 500. It accepts continuation tokens of region us-east-1 only.
 */
export async function startS3Server(bucket = 'tier2-test'): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'strata-s3rver-'));
  const script = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  try {
    const server = await startChildServer(
      's3rver',
      script,
      ['--directory', directory, '--address', '127.0.0.1', '--port', '0', '--silent', '--configure-bucket', bucket],
      /S3rver listening on 127\.0\.0\.1:(\d+)/,
      { cwd: directory, nodeOptions: ['--openssl-legacy-provider'] },
    );
    return {
      directory,
      config: {
        kind: 's3',
        bucket,
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${server.ready}`,
        forcePathStyle: true,
        // s3rver's fixed development credentials.
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
      },
      async stop() {
        await server.stop();
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}
