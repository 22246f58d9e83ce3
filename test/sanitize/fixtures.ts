import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { TenantRef } from '../../src/db/tenantContext.ts';
import { Roles } from '../../src/db/roles.ts';
import { completeInventory, receiveInventoryChunk } from '../../src/sanitize/receiveInventoryChunk.ts';
import { openInventory } from '../../src/sanitize/inventoryRuns.ts';
import { call, putChunk, quote, scanRequest, waitForScan } from '../support/http.ts';
import type { Stack } from '../support/stack.ts';

export const YEAR = 365 * 86_400;
const HEADER = 'dir_path,name,size_bytes,atime_unix,mtime_unix,ctime_unix\n';

export interface ScanFile {
  dir: string;
  name: string;
  size: number;
  /** Unix seconds of last access and modification. */
  used: number;
}

/** Upload one complete scan of a POSIX share through the API and wait until it is OK. */
export async function scanShare(stack: Stack, token: string, share: string, files: ScanFile[]): Promise<void> {
  const opened = await call(stack.api!.url, 'POST', '/v1/scans', {
    token,
    json: scanRequest({ shareName: share, pathStyle: 'posix', sourceType: 'POSIX', rootPath: '/srv' }),
  });
  expect(opened.status).to.be.oneOf([200, 201]);
  const lines = files.map((f) => `${quote(f.dir)},${quote(f.name)},${f.size},${f.used},${f.used},${f.used}\n`);
  if (files.length > 0) {
    const put = await putChunk(stack.api!.url, token, opened.body.scanGuid, 0, HEADER + lines.join(''));
    expect(put.status).to.equal(200);
  }
  await call(stack.api!.url, 'POST', `/v1/scans/${opened.body.scanGuid}/complete`, {
    token,
    json: { chunkCount: files.length > 0 ? 1 : 0, rowCount: files.length, unreadableCount: 0 },
  });
  expect((await waitForScan(stack.api!.url, token, opened.body.scanGuid)).status).to.equal('OK');
}

/**
 * Set a planned file's state, Tier-2 key and action time directly, as the acting stage
 * would: a STUBBED or FAILED object passes through IN_PROGRESS, because the database
 * allows only the state machine's moves.
 */
export async function setTierObject(stack: Stack, schema: string, name: string, state: string, key: string | null, actedAt: number): Promise<void> {
  const steps = state === 'PLANNED' ? [] : ['IN_PROGRESS', state];
  const keyed = await stack.services.pool.query(`UPDATE ${schema}.tier_object SET tier2_key = $2, acted_at = $3 WHERE name = $1`, [name, key, actedAt]);
  expect(keyed.rowCount, `tier object ${name}`).to.equal(1);
  for (const step of steps) {
    await stack.services.pool.query(`UPDATE ${schema}.tier_object SET state = $2 WHERE name = $1`, [name, step]);
  }
}

/** Record a complete agent inventory of a share holding `objects`, through the same functions as the API. */
export async function inventoryShare(stack: Stack, tenant: TenantRef, share: string, objects: { key: string; size: number }[]): Promise<void> {
  const inventoryGuid = randomUUID();
  await openInventory(stack.services.pool, tenant, Roles.api, { inventoryGuid, share, source: 'agent', openedBy: 'test' });
  const body = Buffer.from(objects.map((object) => `${JSON.stringify({ key: object.key, size: object.size })}\n`).join(''));
  await receiveInventoryChunk(stack.services.pool, tenant, { maxInventoryChunkObjects: 1000 }, { inventoryGuid, seq: 0, body });
  await completeInventory(stack.services.pool, tenant, { inventoryGuid, chunkCount: 1, objectCount: objects.length });
}
