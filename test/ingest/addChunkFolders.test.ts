import { expect } from 'chai';
import { loadConfig } from '../../src/config.ts';
import { Roles } from '../../src/db/roles.ts';
import { withTenant } from '../../src/db/tenantContext.ts';
import { addChunkFolders, type FolderScope } from '../../src/ingest/addChunkFolders.ts';
import { folderHashAndCheck } from '../../src/ingest/folderHash.ts';
import type { ChunkFolders } from '../../src/ingest/folderHashRewriter.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const limits = loadConfig({}).ingest;

/** A chunk's folders as the rewriter collects them, each on its own line. */
function chunkFolders(paths: string[]): ChunkFolders {
  return new Map(paths.map((path, index) => {
    const { hash, check } = folderHashAndCheck(path);
    return [path, { hash, hashText: hash.toString(), check, line: index + 2 }];
  }));
}

describe('adding a chunk’s folders', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let scope: FolderScope;

  before(async () => {
    stack = await startStack('chunk_folders', { workers: false });
    tenant = await createTenant(stack, 'acme');
    scope = { tenantId: tenant.id, share: 'finance', pathStyle: 'windows' };
  });
  after(async () => stack?.close());

  async function storedFolders(): Promise<string[]> {
    const { rows } = await stack.services.pool.query<{ dir_path: string }>("SELECT dir_path FROM t_acme.dir WHERE share_name = 'finance' ORDER BY dir_path");
    return rows.map((row) => row.dir_path);
  }

  it('adds only the folders the share lacks', async () => {
    const first = await withTenant(stack.services.pool, tenant, Roles.api, (client) =>
      addChunkFolders(client, scope, chunkFolders(['D:\\a', 'D:\\b']), limits));
    const second = await withTenant(stack.services.pool, tenant, Roles.api, (client) =>
      addChunkFolders(client, scope, chunkFolders(['D:\\b', 'D:\\c', 'D:\\a']), limits));

    expect([first, second]).to.deep.equal([2, 1]);
    expect(await storedFolders()).to.deep.equal(['D:\\a', 'D:\\b', 'D:\\c']);
  });

  it('skips the folders another upload added after the lookup, and adds the rest', async () => {
    const pool = stack.services.pool;
    const other = await pool.connect();
    try {
      // The other upload has added D:\race but not committed when this one looks up,
      // so the lookup misses it and the plain insert waits for it, then fails.
      await other.query('BEGIN');
      await other.query("INSERT INTO t_acme.dir (tenant_id, share_name, dir_path, dir_hash) VALUES ($1, 'finance', 'D:\\race', $2)", [
        tenant.id,
        folderHashAndCheck('D:\\race').hash.toString(),
      ]);
      const adding = withTenant(pool, tenant, Roles.api, (client) => addChunkFolders(client, scope, chunkFolders(['D:\\race', 'D:\\solo']), limits));
      await waitForLockWait(pool);
      await other.query('COMMIT');

      expect(await adding).to.equal(1);
    } finally {
      other.release();
    }
    expect(await storedFolders()).to.include.members(['D:\\race', 'D:\\solo']);
  });

  it('rejects two folders of one chunk that share a hash, naming both', async () => {
    const folders = chunkFolders(['D:\\one']);
    const twin = folders.get('D:\\one')!;
    folders.set('D:\\two', { ...twin, line: 9 });
    const before = await storedFolders();

    const failure = await withTenant(stack.services.pool, tenant, Roles.api, (client) => addChunkFolders(client, scope, folders, limits)).then(
      () => undefined,
      (error: unknown) => error as { code?: string; message: string },
    );

    expect(failure?.code).to.equal('FOLDER_HASH_COLLISION');
    expect(failure?.message).to.contain('D:\\\\one').and.contain('D:\\\\two');
    expect(await storedFolders()).to.deep.equal(before);
  });

  it('checks every folder of the chunk, stored ones included', async () => {
    const posix: FolderScope = { ...scope, pathStyle: 'posix' };
    const failure = await withTenant(stack.services.pool, tenant, Roles.api, (client) => addChunkFolders(client, posix, chunkFolders(['D:\\a']), limits)).then(
      () => undefined,
      (error: unknown) => error as { code?: string; message: string },
    );

    expect(failure?.code).to.equal('INVALID_CHUNK_ROW');
    expect(failure?.message).to.contain('line 2');
  });
});

/** Wait until some backend of the test database waits for a lock. */
async function waitForLockWait(pool: import('pg').Pool): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { rows } = await pool.query<{ waiting: number }>(
      "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows[0]!.waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('no backend started waiting for the lock');
}
