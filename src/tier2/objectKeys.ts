import { InvalidTier2KeyError } from './errors.ts';

/**
 * Segments starting with this are reserved for a store's own files (the filesystem
 * store's temporary files and SHA-256 records), so no object key may contain one.
 */
export const RESERVED_SEGMENT_PREFIX = '.strata~';

/** Longest key in UTF-8 bytes, the S3 limit (Azure allows 1,024 characters, which is at least as many). */
export const MAX_KEY_BYTES = 1024;

/**
 * Check that a key can name an object in every kind of store: `/` between non-empty
 * segments, no `.` or `..` segment, no `\` (Azure turns it into `/`, Windows treats it
 * as a separator), no NUL or other control characters, no reserved segment, at most
 * MAX_KEY_BYTES bytes. A valid key is not yet a safe Windows name; src/acting/tier2Key.ts
 * makes keys that are.
 */
export function assertValidKey(key: string): void {
  if (key === '') throw new InvalidTier2KeyError(key, 'it is empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new InvalidTier2KeyError(key, `it is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
  if (!key.isWellFormed()) throw new InvalidTier2KeyError(key, 'it contains an unpaired surrogate');
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw new InvalidTier2KeyError(key, 'it contains a control character or "\\"');

  for (const segment of key.split('/')) {
    if (segment === '') throw new InvalidTier2KeyError(key, 'it has an empty segment (a leading, trailing or doubled "/")');
    if (segment === '.' || segment === '..') throw new InvalidTier2KeyError(key, 'it has a "." or ".." segment');
    if (segment.startsWith(RESERVED_SEGMENT_PREFIX)) throw new InvalidTier2KeyError(key, `a segment starts with "${RESERVED_SEGMENT_PREFIX}", which is reserved`);
  }
}

/** Check a listing prefix: any start of a valid key, or the empty string. */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  if (!prefix.isWellFormed() || /[\u0000-\u001f\u007f\\]/.test(prefix) || prefix.startsWith('/') || prefix.includes('//')) {
    throw new InvalidTier2KeyError(prefix, 'a listing prefix must be the start of a valid key');
  }
}

/** Compare keys in the order S3 and Azure list them: by their UTF-8 bytes. */
export function compareKeys(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

/**
 * Normalise a store's configured prefix: empty, or segments ending with `/`, so that
 * `prefix + key` is always the object's full name.
 */
export function normalizeStorePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  const trimmed = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  assertValidKey(trimmed);
  return `${trimmed}/`;
}
