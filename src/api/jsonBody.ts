import type { Context } from 'koa';
import { StrataError } from '../errors.ts';

/** Largest JSON request body the API reads; the scan calls send a few hundred bytes. */
export const MAX_JSON_BYTES = 64 * 1024;

/** Read and parse a JSON request body, rejecting anything larger than `maxBytes` (MAX_JSON_BYTES by default). */
export async function readJsonBody(ctx: Context, maxBytes = MAX_JSON_BYTES): Promise<unknown> {
  if (!ctx.is('application/json')) {
    throw new StrataError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json', 415);
  }

  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of ctx.req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > maxBytes) throw StrataError.tooLarge('MAX_JSON_BYTES', `JSON body exceeds ${maxBytes} bytes`);
    parts.push(part);
  }

  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (error) {
    throw new StrataError('INVALID_JSON', 'the request body is not valid JSON', 400, {}, { cause: error });
  }
  checkStrings(value, '');
  return value;
}

/**
 * Reject text PostgreSQL cannot store: a NUL character, or a lone UTF-16 surrogate
 * (JSON allows `\ud800`, UTF-8 has no encoding for it).
 */
/** Deepest nesting a request body may have. */
const MAX_DEPTH = 32;

function checkStrings(value: unknown, path: string, depth = 0): void {
  // No request body of this API nests deeper than a few levels; a deep one is hostile
  // and would otherwise overflow the stack here.
  if (depth > MAX_DEPTH) throw new StrataError('INVALID_JSON', `body nests deeper than ${MAX_DEPTH} levels`, 400);
  if (typeof value === 'string') {
    if (value.includes('\u0000') || !value.isWellFormed()) {
      throw new StrataError('INVALID_TEXT', `${path || 'body'} contains a NUL character or a lone surrogate, which cannot be stored`, 400);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => checkStrings(item, `${path}[${index}]`, depth + 1));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) checkStrings(item, path ? `${path}.${key}` : key, depth + 1);
  }
}
