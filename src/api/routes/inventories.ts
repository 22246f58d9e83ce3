import Router from '@koa/router';
import { Ajv } from 'ajv';
import type { Context } from 'koa';
import type pg from 'pg';
import type { SanitizeSettings } from '../../config.ts';
import type { Principal } from '../../control/authenticate.ts';
import { Roles } from '../../db/roles.ts';
import { StrataError } from '../../errors.ts';
import { getInventory, openInventory, type InventoryView } from '../../sanitize/inventoryRuns.ts';
import { completeInventory, receiveInventoryChunk } from '../../sanitize/receiveInventoryChunk.ts';
import { INVENTORY_MEDIA_TYPE, type CompleteInventoryRequest, type InventoryStatus, type OpenInventoryRequest } from '../../wire/inventory.ts';
import { requireScope } from '../authenticateRequest.ts';
import { readJsonBody } from '../jsonBody.ts';
import { assertValid, SHARE_NAME } from '../schemas.ts';

const ajv = new Ajv({ allErrors: false, strict: true });
const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const validateOpen = ajv.compile<OpenInventoryRequest>({
  type: 'object',
  additionalProperties: false,
  required: ['inventoryGuid', 'share'],
  properties: { inventoryGuid: { type: 'string', pattern: UUID }, share: { type: 'string', pattern: SHARE_NAME } },
});
const validateComplete = ajv.compile<CompleteInventoryRequest>({
  type: 'object',
  additionalProperties: false,
  required: ['chunkCount', 'objectCount'],
  properties: {
    chunkCount: { type: 'integer', minimum: 0, maximum: 10_000_000 },
    objectCount: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
});
const validateParams = ajv.compile<{ inventoryGuid: string; seq?: string }>({
  type: 'object',
  required: ['inventoryGuid'],
  properties: { inventoryGuid: { type: 'string', pattern: UUID }, seq: { type: 'string', pattern: '^(0|[1-9][0-9]{0,6})$' } },
});

function toStatus(view: InventoryView): InventoryStatus {
  return { inventoryGuid: view.inventoryGuid, share: view.share, status: view.status, objectCount: view.objectCount, totalBytes: view.totalBytes };
}

/** Read a chunk body up to `maxBytes`, rejecting a larger one with 413 before it is all read. */
async function readChunkBody(ctx: Context, maxBytes: number): Promise<Buffer> {
  const declared = ctx.get('content-length');
  if (declared !== '' && Number(declared) > maxBytes) {
    throw StrataError.tooLarge('STRATA_MAX_INVENTORY_CHUNK_BYTES', `inventory chunk of ${declared} bytes exceeds ${maxBytes} bytes (STRATA_MAX_INVENTORY_CHUNK_BYTES)`);
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of ctx.req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > maxBytes) {
      throw StrataError.tooLarge('STRATA_MAX_INVENTORY_CHUNK_BYTES', `inventory chunk exceeds ${maxBytes} bytes (STRATA_MAX_INVENTORY_CHUNK_BYTES)`);
    }
    parts.push(part);
  }
  return Buffer.concat(parts);
}

/** Build the agent inventory routes: open a run, upload its chunks, complete it, read its status. */
export function inventoryRoutes(deps: { pool: pg.Pool; settings: SanitizeSettings }): Router {
  const router = new Router({ prefix: '/v1/inventories' });
  const scope = requireScope(deps.pool, 'inventory');

  router.post('/', scope, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const request = assertValid(validateOpen, await readJsonBody(ctx), 'inventory');
    const { view, created } = await openInventory(deps.pool, principal.tenant, Roles.api, {
      inventoryGuid: request.inventoryGuid,
      share: request.share,
      source: 'agent',
      openedBy: principal.tokenName,
    });
    ctx.status = created ? 201 : 200;
    ctx.body = toStatus(view);
  });

  router.get('/:inventoryGuid', scope, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const params = assertValid(validateParams, ctx.params, 'path');
    ctx.body = toStatus(await getInventory(deps.pool, principal.tenant, Roles.api, params.inventoryGuid));
  });

  router.put('/:inventoryGuid/chunks/:seq', scope, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const params = assertValid(validateParams, ctx.params, 'path');
    const type = ctx.get('content-type').split(';')[0]!.trim().toLowerCase();
    if (type !== INVENTORY_MEDIA_TYPE) {
      throw new StrataError('UNSUPPORTED_MEDIA_TYPE', `inventory chunk Content-Type must be ${INVENTORY_MEDIA_TYPE}, got "${type || 'none'}"`, 415);
    }

    const body = await readChunkBody(ctx, deps.settings.maxInventoryChunkBytes);
    const receipt = await receiveInventoryChunk(deps.pool, principal.tenant, deps.settings, { inventoryGuid: params.inventoryGuid, seq: Number(params.seq), body });
    ctx.state.log.info({ inventoryGuid: params.inventoryGuid, seq: receipt.seq, objects: receipt.objects, replayed: receipt.replayed }, 'inventory chunk received');
    ctx.body = receipt;
  });

  router.post('/:inventoryGuid/complete', scope, async (ctx) => {
    const principal = ctx.state.principal as Principal;
    const params = assertValid(validateParams, ctx.params, 'path');
    const request = assertValid(validateComplete, await readJsonBody(ctx), 'completion');
    await completeInventory(deps.pool, principal.tenant, { inventoryGuid: params.inventoryGuid, ...request });
    ctx.body = toStatus(await getInventory(deps.pool, principal.tenant, Roles.api, params.inventoryGuid));
  });

  return router;
}
