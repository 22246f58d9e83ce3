import { deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * Encode the full key of an object stored under a hashed key as object metadata:
 * UTF-8, raw deflate, base64url. Metadata travels in HTTP headers, which carry ASCII
 * only, and paths repeat enough that deflate shortens them. Returns undefined when the
 * result is longer than `maxBytes`.
 */
export function encodeFullKey(fullKey: string, maxBytes: number): string | undefined {
  const encoded = deflateRawSync(Buffer.from(fullKey, 'utf8')).toString('base64url');
  // Over the store's metadata budget the full key is left to the database.
  return encoded.length <= maxBytes ? encoded : undefined;
}

/** Decode metadata written by encodeFullKey; undefined when it is absent or damaged. */
export function decodeFullKey(encoded: string | undefined): string | undefined {
  if (!encoded) return undefined;
  try {
    return inflateRawSync(Buffer.from(encoded, 'base64url')).toString('utf8');
  } catch {
    // Damaged metadata means the full key is unknown here; the database still has it.
    return undefined;
  }
}
