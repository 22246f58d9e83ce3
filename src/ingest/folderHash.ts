/**
 * Compute the 64-bit hash that identifies a folder within its share: PostgreSQL's
 * `hashtextextended(path, 0)` of the canonical path. It runs in Node so that a chunk's
 * rows reach COPY with the hash instead of the path. It must stay bit-for-bit equal to
 * the server's function, because `dir` rows written before it, and any SQL that hashes a
 * path, use the server's.
 *
 * It is Bob Jenkins' lookup3 as PostgreSQL's `hash_bytes_extended` implements it
 * (src/common/hashfn.c) with seed 0, over the path's UTF-8 bytes, on a little-endian
 * server: the high 32 bits are `b` and the low 32 bits `c`, read as a signed bigint.
 * `hashtextextended` hashes the bytes themselves only under a deterministic collation,
 * which the tenant schemas use (the database default).
 */
export function folderHash(path: string): bigint {
  return hashBytesExtended(Buffer.from(path, 'utf8'));
}

/** Hash bytes as PostgreSQL's `hash_bytes_extended(k, len, 0)` does; see `folderHash`. */
export function hashBytesExtended(k: Uint8Array): bigint {
  let length = k.length;
  let a = (0x9e3779b9 + length + 3923095) >>> 0;
  let b = a;
  let c = a;
  let i = 0;

  // Whole 12-byte blocks, read as three little-endian 32-bit words.
  while (length >= 12) {
    a = (a + word(k, i)) >>> 0;
    b = (b + word(k, i + 4)) >>> 0;
    c = (c + word(k, i + 8)) >>> 0;
    [a, b, c] = mix(a, b, c);
    i += 12;
    length -= 12;
  }

  // The last 0 to 11 bytes; the lowest byte of c is left for nothing, as in lookup3.
  if (length >= 11) c = (c + (k[i + 10]! << 24)) >>> 0;
  if (length >= 10) c = (c + (k[i + 9]! << 16)) >>> 0;
  if (length >= 9) c = (c + (k[i + 8]! << 8)) >>> 0;
  if (length >= 8) b = (b + (k[i + 7]! << 24)) >>> 0;
  if (length >= 7) b = (b + (k[i + 6]! << 16)) >>> 0;
  if (length >= 6) b = (b + (k[i + 5]! << 8)) >>> 0;
  if (length >= 5) b = (b + k[i + 4]!) >>> 0;
  if (length >= 4) a = (a + (k[i + 3]! << 24)) >>> 0;
  if (length >= 3) a = (a + (k[i + 2]! << 16)) >>> 0;
  if (length >= 2) a = (a + (k[i + 1]! << 8)) >>> 0;
  if (length >= 1) a = (a + k[i]!) >>> 0;

  [a, b, c] = final(a, b, c);
  return BigInt.asIntN(64, (BigInt(b) << 32n) | BigInt(c));
}

function word(k: Uint8Array, i: number): number {
  return (k[i]! | (k[i + 1]! << 8) | (k[i + 2]! << 16) | (k[i + 3]! << 24)) >>> 0;
}

function rot(x: number, bits: number): number {
  return ((x << bits) | (x >>> (32 - bits))) >>> 0;
}

function mix(a: number, b: number, c: number): [number, number, number] {
  a = (a - c) >>> 0; a = (a ^ rot(c, 4)) >>> 0; c = (c + b) >>> 0;
  b = (b - a) >>> 0; b = (b ^ rot(a, 6)) >>> 0; a = (a + c) >>> 0;
  c = (c - b) >>> 0; c = (c ^ rot(b, 8)) >>> 0; b = (b + a) >>> 0;
  a = (a - c) >>> 0; a = (a ^ rot(c, 16)) >>> 0; c = (c + b) >>> 0;
  b = (b - a) >>> 0; b = (b ^ rot(a, 19)) >>> 0; a = (a + c) >>> 0;
  c = (c - b) >>> 0; c = (c ^ rot(b, 4)) >>> 0; b = (b + a) >>> 0;
  return [a, b, c];
}

function final(a: number, b: number, c: number): [number, number, number] {
  c = (c ^ b) >>> 0; c = (c - rot(b, 14)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 11)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 25)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 16)) >>> 0;
  a = (a ^ c) >>> 0; a = (a - rot(c, 4)) >>> 0;
  b = (b ^ a) >>> 0; b = (b - rot(a, 14)) >>> 0;
  c = (c ^ b) >>> 0; c = (c - rot(b, 24)) >>> 0;
  return [a, b, c];
}
