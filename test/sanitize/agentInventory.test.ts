import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { pino } from 'pino';
import { runInventory } from '../../agent/runInventory.ts';
import { findTenantByCode } from '../../src/control/tenants.ts';
import { createToken } from '../../src/control/tokenRegistry.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import { INVENTORY_MEDIA_TYPE } from '../../src/wire/inventory.ts';
import { call } from '../support/http.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

const KEYS = ['projects/a b.txt', 'projects/a+b.txt', 'projects/100%.csv', 'projects/caf\u00e9.txt', 'projects/cafe\u0301.txt', 'projects/deep/er/x.bin'];

describe('agent inventory upload', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let root: string;

  function putChunk(inventoryGuid: string, seq: number, body: string) {
    return call(stack.api!.url, 'PUT', `/v1/inventories/${inventoryGuid}/chunks/${seq}`, {
      token: tenant.agentToken,
      body,
      headers: { 'content-type': INVENTORY_MEDIA_TYPE },
    });
  }

  async function open(): Promise<string> {
    const inventoryGuid = randomUUID();
    const opened = await call(stack.api!.url, 'POST', '/v1/inventories', { token: tenant.agentToken, json: { inventoryGuid, share: 'projects' } });
    expect(opened.status).to.equal(201);
    return inventoryGuid;
  }

  before(async () => {
    stack = await startStack('sanitize_agent_inventory', { workers: false });
    tenant = await createTenant(stack, 'acme');
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-inventory-'));
    const store = new FsStore(root);
    for (const [index, key] of KEYS.entries()) {
      const body = Buffer.alloc(index + 1, 'x');
      await store.put(key, Readable.from([body]), { sizeBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    }
  });
  after(async () => {
    await stack?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('uploads every object of a filesystem root', async () => {
    const status = await runInventory({
      serverUrl: stack.api!.url,
      token: tenant.agentToken,
      share: 'projects',
      root,
      chunkObjects: 4,
      logger: pino({ level: 'silent' }),
    });
    expect(status.status).to.equal('COMPLETE');
    expect(status.objectCount).to.equal(KEYS.length);

    const { rows } = await stack.services.pool.query(
      `SELECT o.object_key, o.size_bytes::int AS size, o.sha256 IS NOT NULL AS hashed
         FROM t_acme.tier2_inventory o JOIN t_acme.inventory_run r USING (inventory_id)
        WHERE r.inventory_guid = $1 ORDER BY o.object_key COLLATE "C"`,
      [status.inventoryGuid],
    );
    expect(rows.map((row) => row.object_key)).to.deep.equal([...KEYS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    expect(rows.every((row) => row.hashed)).to.equal(true);
  });

  it('answers a repeated chunk from its ledger', async () => {
    const inventoryGuid = await open();
    const body = '{"key":"p/x","size":1}\n';
    expect((await putChunk(inventoryGuid, 0, body)).body.replayed).to.equal(false);
    expect((await putChunk(inventoryGuid, 0, body)).body.replayed).to.equal(true);

    const other = await putChunk(inventoryGuid, 0, '{"key":"p/y","size":1}\n');
    expect(other.status).to.equal(409);
  });

  it('rejects a bad line with its number', async () => {
    const inventoryGuid = await open();
    const result = await putChunk(inventoryGuid, 0, '{"key":"p/x","size":1}\n{"key":"p/y","size":-1}\n');
    expect(result.status).to.equal(422);
    expect(result.body.error.line).to.equal(2);

    const { rows } = await stack.services.pool.query(
      'SELECT count(*)::int AS n FROM t_acme.tier2_inventory o JOIN t_acme.inventory_run r USING (inventory_id) WHERE r.inventory_guid = $1',
      [inventoryGuid],
    );
    expect(rows[0].n).to.equal(0);
  });

  it('refuses to complete with a chunk missing', async () => {
    const inventoryGuid = await open();
    await putChunk(inventoryGuid, 1, '{"key":"p/x","size":1}\n');
    const result = await call(stack.api!.url, 'POST', `/v1/inventories/${inventoryGuid}/complete`, {
      token: tenant.agentToken,
      json: { chunkCount: 2, objectCount: 2 },
    });
    expect(result.status).to.equal(409);
    expect(result.body.error.message).to.match(/missing chunks 0/);
  });

  it('rejects a token without the inventory scope', async () => {
    const issued = await createToken(stack.services.pool, (await findTenantByCode(stack.services.pool, 'acme'))!, {
      name: 'uploader',
      scopes: ['upload'],
      expiresAt: null,
      actor: 'test',
    });
    const result = await call(stack.api!.url, 'POST', '/v1/inventories', { token: issued.token, json: { inventoryGuid: randomUUID(), share: 'projects' } });
    expect(result.status).to.equal(403);
  });
});
