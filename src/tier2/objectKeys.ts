import { InvalidTier2KeyError } from './errors.ts';

/**
 * Segments starting with this are reserved for a store's own files (the filesystem
 * store's temporary files and SHA-256 records), so no object key may contain one.
 */
export const RESERVED_SEGMENT_PREFIX = '.strata~';

/** Maximum key length in UTF-8 bytes, the S3 limit. Azure allows 1,024 characters, which is at least as many. */
export const MAX_KEY_BYTES = 1024;

/**
 * Check that a key can name an object in every kind of store. It needs `/` between
 * non-empty segments and at most MAX_KEY_BYTES bytes. It may not contain a `.` or `..`
 * segment, a reserved segment, control characters, or `\`, which Azure turns into `/`
 * and Windows reads as a separator. A valid key is not yet a safe Windows name, but
 * src/acting/tier2Key.ts makes keys that are.
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

/** Largest page a listing returns, the S3 and Azure maximum. */
export const MAX_PAGE_SIZE = 1000;

/** Check a listing's page size: a whole number from 1 to MAX_PAGE_SIZE (the default). */
export function pageSizeOf(pageSize: number | undefined): number {
  if (pageSize === undefined) return MAX_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new RangeError(`Tier-2 page size must be a whole number from 1 to ${MAX_PAGE_SIZE}, got ${pageSize}`);
  }
  return pageSize;
}

const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)$/i;

/**
 * Return why Windows would not store a key segment as given, or undefined. Win32 drops a
 * trailing dot or space, opens a device for `CON`, `NUL.txt` and the like, and forbids
 * `<>:"|?*`, so such a segment would name another file or none.
 */
export function windowsSegmentProblem(segment: string): string | undefined {
  if (/[<>:"|?*]/.test(segment)) return 'it contains one of <>:"|?*';
  if (/[. ]$/.test(segment)) return 'it ends with a dot or space';
  if (WINDOWS_DEVICE.test(segment.split('.')[0]!.replace(/ +$/, ''))) return 'it names a Windows device';
  return undefined;
}
