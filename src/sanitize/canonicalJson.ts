import { createHash } from 'node:crypto';

/** A value that canonical JSON can serialise: no undefined, functions, NaN or Infinity. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Serialise a value the one way: object keys sorted by UTF-16 code units, no
 * whitespace, numbers as JavaScript prints them (integers only, so every reader agrees
 * on the text). Two equal values always give the same bytes, so their SHA-256 is a
 * stable digest of the content. This follows RFC 8785 (JCS) for the values allowed here.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON accepts safe integers only, got ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;

  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(',')}}`;
}

/** Hex SHA-256 of a text's UTF-8 bytes. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
