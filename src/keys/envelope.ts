import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Version tag of the sealed-secret text form; a new format gets a new tag. */
const FORMAT = 'sv1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypt one secret value with the tenant's data key: AES-256-GCM, a random 96-bit
 * nonce per value, and the tenant id as associated data, so a value copied into
 * another tenant's row fails its tag check instead of decrypting.
 *
 * The result is `sv1:<nonce>:<tag>:<ciphertext>`, each part base64.
 */
export function sealSecret(dek: Buffer, tenantId: string, plaintext: Buffer): string {
  assertDek(dek);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dek, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(tenantId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [FORMAT, nonce.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join(':');
}

/** Decrypt a value made by `sealSecret` for the same tenant; throws on any mismatch. */
export function openSecret(dek: Buffer, tenantId: string, sealed: string): Buffer {
  assertDek(dek);
  const parts = sealed.split(':');
  if (parts.length !== 4 || parts[0] !== FORMAT) {
    throw new Error(`sealed secret is not in the ${FORMAT} format`);
  }

  const [, nonce, tag, ciphertext] = parts as [string, string, string, string];
  const decipher = createDecipheriv('aes-256-gcm', dek, Buffer.from(nonce, 'base64'), { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(tenantId, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]);
  } catch {
    // The GCM error reads only "unable to authenticate data", so name the likely causes.
    throw new Error('sealed secret failed its integrity check: it belongs to another tenant, another data key, or was altered');
  }
}

function assertDek(dek: Buffer): void {
  if (dek.length !== 32) {
    throw new Error(`a data key is 32 bytes, got ${dek.length}`);
  }
}
