import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { Roles } from '../../src/db/roles.ts';
import { openInventory } from '../../src/sanitize/inventoryRuns.ts';
import { listInventory } from '../../src/sanitize/listInventory.ts';
import type { ProvisionedTenant } from '../../src/tenancy/provisionTenant.ts';
import { FsStore } from '../../src/tier2/fsStore.ts';
import type { Tier2Store } from '../../src/tier2/tier2Store.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('server-side inventory listing', () => {
  let stack: Stack;
  let tenant: ProvisionedTenant;
  let root: string;
  let store: FsStore;

  before(async () => {
    stack = await startStack('sanitize_list_inventory', { api: false, workers: false });
    tenant = await createTenant(stack, 'acme');
    root = await mkdtemp(path.join(os.tmpdir(), 'strata-list-inventory-'));
    store = new FsStore(root);
    for (let index = 0; index < 7; index++) {
      const body = Buffer.from(`object ${index}`);
      await store.put(`projects/o${index}.bin`, Readable.from([body]), { sizeBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    }
  });
  after(async () => {
    await stack?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('resumes after a failed page without duplicates', async () => {
    let calls = 0;
    const failing: Tier2Store = Object.create(store, {
      list: {
        value: async (prefix: string, token: string | null, size?: number) => {
          calls++;
          if (calls === 3) throw new Error('listing failed on the third page');
          return store.list(prefix, token, size);
        },
      },
    });
    const inventoryGuid = randomUUID();
    await openInventory(stack.services.pool, tenant, Roles.sanitizer, { inventoryGuid, share: 'projects', source: 'server', openedBy: 'test' });

    let failure: unknown;
    try {
      await listInventory(stack.services.pool, tenant, inventoryGuid, failing, { pageSize: 2, log: stack.services.log });
    } catch (error) {
      failure = error;
    }
    expect(String(failure)).to.match(/third page/);
    const midway = await stack.services.pool.query('SELECT pages::int, object_count::int, status FROM t_acme.inventory_run WHERE inventory_guid = $1', [inventoryGuid]);
    expect(midway.rows[0]).to.deep.equal({ pages: 2, object_count: 4, status: 'RUNNING' });

    const view = await listInventory(stack.services.pool, tenant, inventoryGuid, failing, { pageSize: 2, log: stack.services.log });
    expect(view.status).to.equal('COMPLETE');
    expect(view.objectCount).to.equal(7);
    expect(view.pages).to.equal(4);
    expect(calls).to.equal(5);
  });
});
