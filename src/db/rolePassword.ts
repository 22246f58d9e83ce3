import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { StrataError } from '../errors.ts';

/** PostgreSQL's default iteration count for SCRAM-SHA-256 (`scram_iterations`). */
const SCRAM_ITERATIONS = 4096;

/** Return a new password of 32 URL-safe characters (192 random bits). */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Accept a password given by an operator, or raise an error naming `source`. Only
 * printable ASCII is accepted: PostgreSQL normalises other characters with SASLprep
 * before hashing, which the secret computed here does not do.
 */
export function assertUsablePassword(password: string, source: string): void {
  if (!/^[\x20-\x7e]{12,1024}$/.test(password)) {
    throw StrataError.invalid('INVALID_PASSWORD', `${source} must be 12 to 1024 printable ASCII characters`);
  }
}

/**
 * Compute the SCRAM-SHA-256 secret that PostgreSQL stores for `password` (RFC 5802 and
 * RFC 7677, in the `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` form of
 * `pg_authid.rolpassword`). `CREATE ROLE … PASSWORD '<secret>'` stores it as it is,
 * so the plaintext never reaches the server or its statement log.
 */
export function scramSha256Secret(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
