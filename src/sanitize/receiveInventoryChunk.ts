import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import type pg from 'pg';
import type { SanitizeSettings } from '../config.ts';
import { Roles } from '../db/roles.ts';
import { withTenant, type TenantRef } from '../db/tenantContext.ts';
import { StrataError } from '../errors.ts';
import type { Tier2Object } from '../tier2/tier2Store.ts';
import { insertObjects, markComplete, readRun, rejectEmptyInventory } from './inventoryRuns.ts';

const ajv = new Ajv({ allErrors: false, strict: true });

/** Longest Tier-2 key an inventory line may carry, in characters; S3 and Azure allow 1,024 bytes. */
export const MAX_INVENTORY_KEY_CHARS = 4096;

/** One line of an inventory chunk: `{"key": "...", "size": 123, "sha256"?: "...", "mtime"?: 1700000000}`. */
const validateLine = ajv.compile<{ key: string; size: number; sha256?: string; mtime?: number }>({
  type: 'object',
  additionalProperties: false,
  required: ['key', 'size'],
  properties: {
    key: { type: 'string', minLength: 1, maxLength: MAX_INVENTORY_KEY_CHARS },
    size: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    mtime: { type: 'integer', minimum: -11_644_473_600, maximum: 253_402_300_799 },
  },
});

export interface InventoryChunkReceipt {
  seq: number;
  objects: number;
  replayed: boolean;
}

/**
 * Parse an inventory chunk: UTF-8 JSON lines, one object each, validated line by line.
 * A bad line rejects the whole chunk with its line number.
 */
export function parseInventoryChunk(body: Buffer, maxObjects: number): Tier2Object[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch (error) {
    throw StrataError.invalid('INVALID_INVENTORY_CHUNK', 'inventory chunk is not valid UTF-8', {}, error);
  }

  const objects: Tier2Object[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    if (line === '' && index === lines.length - 1) break;
    if (objects.length >= maxObjects) {
      throw StrataError.tooLarge('STRATA_MAX_INVENTORY_CHUNK_OBJECTS', `inventory chunk has more than ${maxObjects} objects (STRATA_MAX_INVENTORY_CHUNK_OBJECTS)`);
    }

    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw StrataError.invalid('INVALID_INVENTORY_CHUNK', `inventory chunk line ${index + 1} is not valid JSON`, { line: index + 1 }, error);
    }
    if (!validateLine(value)) {
      const first = validateLine.errors?.[0];
      const field = first?.instancePath.slice(1) || (first?.params as { missingProperty?: string })?.missingProperty || 'line';
      throw StrataError.invalid('INVALID_INVENTORY_CHUNK', `inventory chunk line ${index + 1}: ${field} ${first?.message ?? 'is invalid'}`, {
        line: index + 1,
        column: field,
      });
    }
    if (value.key.includes('\u0000') || !value.key.isWellFormed()) {
      throw StrataError.invalid('INVALID_INVENTORY_CHUNK', `inventory chunk line ${index + 1}: key contains a NUL or a lone surrogate`, { line: index + 1, column: 'key' });
    }
    objects.push({
      key: value.key,
      sizeBytes: value.size,
      sha256: value.sha256,
      lastModified: value.mtime === undefined ? undefined : new Date(value.mtime * 1000),
    });
  }
  return objects;
}

/**
 * Store one chunk of an agent's inventory, exactly once. The chunk row and its objects
 * commit together. A repeat with the same SHA-256 is acknowledged from the ledger, and a
 * different body under the same sequence number is a 409.
 */
export async function receiveInventoryChunk(
  pool: pg.Pool,
  tenant: TenantRef,
  settings: Pick<SanitizeSettings, 'maxInventoryChunkObjects'>,
  request: { inventoryGuid: string; seq: number; body: Buffer },
): Promise<InventoryChunkReceipt> {
  const sha256 = createHash('sha256').update(request.body).digest();
  const objects = parseInventoryChunk(request.body, settings.maxInventoryChunkObjects);

  return withTenant(pool, tenant, Roles.api, async (client) => {
    const run = await readRun(client, request.inventoryGuid, true);
    const previous = await client.query<{ sha256: Buffer; object_count: number }>(
      'SELECT sha256, object_count FROM inventory_chunk WHERE inventory_id = $1 AND seq = $2',
      [run.inventory_id, request.seq],
    );
    if (previous.rows[0]) {
      if (!previous.rows[0].sha256.equals(sha256)) {
        throw StrataError.conflict('CHUNK_CONFLICT', `inventory chunk ${request.seq} was already received with a different body`);
      }
      return { seq: request.seq, objects: previous.rows[0].object_count, replayed: true };
    }
    if (run.status !== 'RUNNING') {
      throw StrataError.conflict('INVENTORY_NOT_RUNNING', `inventory ${request.inventoryGuid} is ${run.status}; open a new one`);
    }

    const added = await insertObjects(client, Number(run.inventory_id), objects);
    await client.query('INSERT INTO inventory_chunk (inventory_id, seq, sha256, object_count) VALUES ($1, $2, $3, $4)', [
      run.inventory_id,
      request.seq,
      sha256,
      objects.length,
    ]);
    await client.query(
      'UPDATE inventory_run SET pages = pages + 1, object_count = object_count + $2, total_bytes = total_bytes + $3 WHERE inventory_id = $1',
      [run.inventory_id, added.objects, added.bytes],
    );
    return { seq: request.seq, objects: objects.length, replayed: false };
  });
}

/**
 * Complete an agent's inventory once every chunk `0 … chunkCount - 1` has arrived and
 * they hold `objectCount` objects in all; a 409 names what is missing. Completing a
 * complete inventory again returns it unchanged.
 */
export async function completeInventory(
  pool: pg.Pool,
  tenant: TenantRef,
  request: { inventoryGuid: string; chunkCount: number; objectCount: number },
): Promise<{ status: string }> {
  return withTenant(pool, tenant, Roles.api, async (client) => {
    const run = await readRun(client, request.inventoryGuid, true);
    if (run.status === 'COMPLETE') return { status: run.status };

    const { rows } = await client.query<{ chunks: number; objects: string; missing: number[] }>(
      `SELECT count(*)::int AS chunks, coalesce(sum(object_count), 0) AS objects,
              ARRAY(SELECT s FROM generate_series(0, $2::int - 1) s
                     WHERE NOT EXISTS (SELECT 1 FROM inventory_chunk c WHERE c.inventory_id = $1 AND c.seq = s)
                     ORDER BY s LIMIT 20) AS missing
         FROM inventory_chunk WHERE inventory_id = $1`,
      [run.inventory_id, request.chunkCount],
    );
    const received = rows[0]!;
    if (received.missing.length > 0 || received.chunks !== request.chunkCount || Number(received.objects) !== request.objectCount) {
      const missing = received.missing.length > 0 ? `; missing chunks ${received.missing.join(', ')}` : '';
      throw StrataError.conflict(
        'INVENTORY_INCOMPLETE',
        `inventory ${request.inventoryGuid} has ${received.chunks} chunks with ${received.objects} objects, expected ${request.chunkCount} with ${request.objectCount}${missing}`,
      );
    }

    await rejectEmptyInventory(pool, tenant, Number(run.inventory_id));
    await markComplete(client, Number(run.inventory_id));
    return { status: 'COMPLETE' };
  });
}
