import { expect } from 'chai';
import { loadConfig } from '../../src/config.ts';
import { Roles } from '../../src/db/roles.ts';
import { withTenant } from '../../src/db/tenantContext.ts';
import { folderHash } from '../../src/ingest/folderHash.ts';
import type { ChunkFolders } from '../../src/ingest/folderHashRewriter.ts';
import { stageChunkFolders, type FolderScope } from '../../src/ingest/stageChunkFolders.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { openScan } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const limits = loadConfig({}).ingest;

/** Build a chunk's folders as the rewriter collects them, each on its own line. */
function chunkFolders(paths: string[]): ChunkFolders {
  return new Map(paths.map((path, index) => {
    const hash = folderHash(path);
    return [path, { hash, hashText: hash.toString(), line: index + 2 }];
  }));
}

describe('staging a chunk’s folders', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let scope: FolderScope;

  before(async () => {
    stack = await startStack('chunk_folders', { workers: false });
    tenant = await createTenant(stack, 'acme');
    const scanGuid = await openScan(stack.api!.url, tenant.agentToken, { shareName: 'finance' });
    const { rows } = await stack.services.pool.query<{ scan_id: number }>('SELECT scan_id FROM t_acme.scan WHERE scan_guid = $1', [scanGuid]);
    scope = { scanId: rows[0]!.scan_id, share: 'finance', pathStyle: 'windows' };
  });
  after(async () => stack?.close());

  /** Stage as the chunk receiver does: as the stager, in a tenant transaction. */
  function stage(folders: ChunkFolders, style: FolderScope = scope): Promise<number> {
    return withTenant(stack.services.pool, tenant, Roles.api, async (client) => {
      await client.query(`SET LOCAL ROLE ${Roles.stager}`);
      return stageChunkFolders(client, style, folders, limits);
    });
  }

  async function staged(): Promise<{ dir_path: string; dir_hash: string }[]> {
    const { rows } = await stack.services.pool.query(
      `SELECT dir_path, dir_hash::text FROM t_acme.scan_dir WHERE scan_id = $1 ORDER BY dir_path`,
      [scope.scanId],
    );
    return rows;
  }

  it('stages folders with quotes and line feeds', async () => {
    const paths = ['D:\\a', 'D:\\b "quoted", with comma', 'D:\\line\nfeed'];
    expect(await stage(chunkFolders(paths))).to.equal(3);

    const expected = paths.map((path) => ({ dir_path: path, dir_hash: folderHash(path).toString() }));
    expect(await staged()).to.deep.equal(expected.sort((a, b) => (a.dir_path < b.dir_path ? -1 : 1)));
  });

  it('rejects two folders sharing a hash', async () => {
    const folders = chunkFolders(['D:\\one']);
    folders.set('D:\\two', { ...folders.get('D:\\one')!, line: 9 });
    const before = await staged();

    const failure = await stage(folders).then(
      () => undefined,
      (error: unknown) => error as { code?: string; message: string },
    );

    expect(failure?.code).to.equal('FOLDER_HASH_COLLISION');
    expect(failure?.message).to.contain('D:\\\\one').and.contain('D:\\\\two');
    expect(await staged()).to.deep.equal(before);
  });

  it('rejects a folder of another style', async () => {
    const failure = await stage(chunkFolders(['D:\\a', 'relative\\b']), scope).then(
      () => undefined,
      (error: unknown) => error as { code?: string; message: string },
    );

    expect(failure?.code).to.equal('INVALID_CHUNK_ROW');
    expect(failure?.message).to.contain('line 3');
  });
});
