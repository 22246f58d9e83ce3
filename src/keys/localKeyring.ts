import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config.ts';
import type { Logger } from '../log.ts';
import { StrataError } from '../errors.ts';
import { KeyProviderUnsupportedError } from './keyErrors.ts';
import type { KeyProvider, KeyServiceHealth, KeyVersions, TenantKeyOwner, WrappedDek } from './keyProvider.ts';

const FORMAT = 'local-v1';
const KEY_REF_PREFIX = 'local:';

/**
 * A development key provider: each tenant's key-encryption key is a random 256-bit key
 * in its own file (mode 0600) under one folder, and data keys are wrapped with
 * AES-256-GCM using the tenant id as associated data. Deleting the file shreds the
 * tenant's data key. Anyone who can read the folder can read every key, which is why
 * it is refused when NODE_ENV=production.
 */
export class LocalKeyring implements KeyProvider {
  readonly name = 'local';

  constructor(
    private readonly dir: string,
    nodeEnv: string,
    log: Logger,
  ) {
    if (nodeEnv === 'production') {
      throw new ConfigError(
        'the local keyring keeps tenant keys in plain files and is refused when NODE_ENV=production; set STRATA_KEY_PROVIDER=vault and VAULT_ADDR (see README.md)',
      );
    }
    log.warn({ keyringDir: path.resolve(dir) }, 'using the local keyring: tenant keys are plain files, for development only');
  }

  async createTenantKey(owner: TenantKeyOwner): Promise<WrappedDek> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });

    const kek = randomBytes(32);
    // 'wx' fails if the file exists, so a key is never silently replaced.
    await writeFile(this.keyFile(owner.id), kek.toString('base64'), { mode: 0o600, flag: 'wx' });

    try {
      return wrapNewDek(kek, owner.id);
    } finally {
      kek.fill(0);
    }
  }

  assertOwnsKeyRef(keyRef: string): void {
    if (!keyRef.startsWith(KEY_REF_PREFIX)) {
      throw new StrataError(
        'KEY_REF_MISMATCH',
        `key reference ${JSON.stringify(keyRef)} is not a local keyring key; the tenant was created with another key provider, so set STRATA_KEY_PROVIDER to that provider`,
        422,
      );
    }
  }

  async createDek(owner: TenantKeyOwner, keyRef: string): Promise<WrappedDek> {
    this.assertOwnsKeyRef(keyRef);
    const kek = await this.readKek(owner.id);
    try {
      return wrapNewDek(kek, owner.id);
    } finally {
      kek.fill(0);
    }
  }

  async unwrapDek(owner: TenantKeyOwner, wrapped: WrappedDek): Promise<Buffer> {
    this.assertOwnsKeyRef(wrapped.keyRef);
    const kek = await this.readKek(owner.id);
    try {
      return unwrap(kek, wrapped.wrappedDek, owner.id);
    } finally {
      kek.fill(0);
    }
  }

  async destroyTenantKey(owner: TenantKeyOwner, keyRef: string): Promise<void> {
    this.assertOwnsKeyRef(keyRef);
    await rm(this.keyFile(owner.id), { force: true });
  }

  // The local keyring has one key version per tenant: rotating it would mean rewrapping
  // with a second file, which development does not need.
  rotateKey(): Promise<number> {
    return Promise.reject(new KeyProviderUnsupportedError(this.name, 'rotating a tenant key'));
  }

  rewrapDek(): Promise<WrappedDek> {
    return Promise.reject(new KeyProviderUnsupportedError(this.name, 'rewrapping a data key'));
  }

  async readVersions(_owner: TenantKeyOwner, keyRef: string): Promise<KeyVersions> {
    this.assertOwnsKeyRef(keyRef);
    return { latestVersion: 1, minDecryptionVersion: 1 };
  }

  setMinDecryptionVersion(): Promise<void> {
    return Promise.reject(new KeyProviderUnsupportedError(this.name, 'raising the minimum decryption version'));
  }

  async health(): Promise<KeyServiceHealth> {
    return { status: 'ok' };
  }

  async close(): Promise<void> {}

  private async readKek(tenantId: string): Promise<Buffer> {
    return Buffer.from(await readFile(this.keyFile(tenantId), 'utf8'), 'base64');
  }

  private keyFile(tenantId: string): string {
    // The tenant id is a UUID made by the service, never client text.
    return path.join(this.dir, `${tenantId}.key`);
  }
}

function wrapNewDek(kek: Buffer, tenantId: string): WrappedDek {
  const dek = randomBytes(32);
  try {
    return { keyRef: `${KEY_REF_PREFIX}${tenantId}`, wrappedDek: wrap(kek, dek, tenantId), keyVersion: 1 };
  } finally {
    dek.fill(0);
  }
}

function wrap(kek: Buffer, dek: Buffer, tenantId: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(tenantId, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(dek), cipher.final()]);
  return [FORMAT, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join(':');
}

function unwrap(kek: Buffer, text: string, tenantId: string): Buffer {
  const [format, iv, tag, ciphertext] = text.split(':');
  if (format !== FORMAT || !iv || !tag || !ciphertext) {
    throw new Error(`wrapped data key is not in the ${FORMAT} format`);
  }

  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(iv, 'base64'));
  decipher.setAAD(Buffer.from(tenantId, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]);
}
