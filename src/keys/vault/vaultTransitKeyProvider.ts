import type { VaultConfig } from '../../config.ts';
import { StrataError } from '../../errors.ts';
import { KeyServiceUnavailableError } from '../keyErrors.ts';
import type { Logger } from '../../log.ts';
import type { KeyProvider, KeyServiceHealth, KeyVersions, TenantKeyOwner, WrappedDek } from '../keyProvider.ts';
import { VaultClient, type VaultResponse } from './vaultClient.ts';
import { VaultRequestError, classifyVaultError } from './vaultErrors.ts';

const KEY_REF_PREFIX = 'vault:';
const DEK_BITS = 256;

/**
 * Tenant keys in Vault (or OpenBao) Transit. Each tenant has its own transit key
 * `<mount>/keys/<code>`: aes256-gcm96, not exportable, no plaintext backup, and not
 * deletable until the tenant is deleted. Vault generates the data key with
 * `datakey/wrapped`, so Strata stores only its ciphertext (`vault:v<N>:…`). Outside
 * Vault, the plaintext key exists only in the memory of a process that called `decrypt`.
 */
export class VaultTransitKeyProvider implements KeyProvider {
  readonly name = 'vault';
  private readonly vault: VaultClient;
  private readonly mount: string;
  private readonly log: Logger;

  constructor(config: VaultConfig, log: Logger) {
    this.log = log.child({ component: 'vault' });
    this.vault = new VaultClient(config, this.log);
    this.mount = config.transitMount;
  }

  /**
   * Create the transit key and the first data key. A key that already exists is not
   * reused, because it could belong to a tenant deleted without its key being
   * destroyed. When the data key cannot be made, the new transit key is deleted again,
   * so a failed onboarding leaves no key behind unless Vault fails in between.
   */
  async createTenantKey(owner: TenantKeyOwner): Promise<WrappedDek> {
    const keyName = owner.code;
    if (await this.keyExists(keyName)) {
      throw StrataError.conflict(
        'TRANSIT_KEY_EXISTS',
        `transit key ${this.mount}/keys/${keyName} already exists in Vault; delete it there if it is left over, or use another tenant code`,
      );
    }

    await this.vault.write(`${this.mount}/keys/${keyName}`, { type: 'aes256-gcm96', exportable: false, allow_plaintext_backup: false });
    const keyRef = `${KEY_REF_PREFIX}${this.mount}/keys/${keyName}`;
    try {
      // Vault creates keys with deletion_allowed false; writing it pins that explicitly.
      await this.vault.write(`${this.mount}/keys/${keyName}/config`, { deletion_allowed: false });
      return await this.createDek(owner, keyRef);
    } catch (error) {
      await this.destroyTenantKey(owner, keyRef).catch((cleanupError: unknown) => {
        this.log.error({ err: cleanupError, keyRef, tenant: owner.code }, 'transit key of a failed onboarding could not be deleted; delete it in Vault');
      });
      throw error;
    }
  }

  async createDek(_owner: TenantKeyOwner, keyRef: string): Promise<WrappedDek> {
    const keyName = this.keyNameOf(keyRef);
    const response = await this.vault.write(`${this.mount}/datakey/wrapped/${keyName}`, { bits: DEK_BITS });
    const ciphertext = stringField(response, 'ciphertext');
    return { keyRef, wrappedDek: ciphertext, keyVersion: versionOf(ciphertext) };
  }

  async unwrapDek(_owner: TenantKeyOwner, wrapped: WrappedDek): Promise<Buffer> {
    const keyName = this.keyNameOf(wrapped.keyRef);
    const response = await this.vault.write(`${this.mount}/decrypt/${keyName}`, { ciphertext: wrapped.wrappedDek });
    // NOTE: the base64 text of the key stays in the V8 heap until collected; only the
    // Buffer can be zeroed.
    const dek = Buffer.from(stringField(response, 'plaintext'), 'base64');
    if (dek.length !== DEK_BITS / 8) {
      dek.fill(0);
      throw new VaultRequestError(`Vault returned a ${dek.length}-byte data key for ${wrapped.keyRef}; expected ${DEK_BITS / 8}`, 200);
    }
    return dek;
  }

  /** Crypto-shredding: allow deletion, then delete every version of the transit key. A missing key counts as destroyed. */
  async destroyTenantKey(_owner: TenantKeyOwner, keyRef: string): Promise<void> {
    const keyName = this.keyNameOf(keyRef);
    // Vault returns 400, not 404, when configuring a missing key, so look first.
    if (!(await this.keyExists(keyName))) return;

    await this.vault.write(`${this.mount}/keys/${keyName}/config`, { deletion_allowed: true });
    await this.vault.delete(`${this.mount}/keys/${keyName}`);
  }

  async rotateKey(_owner: TenantKeyOwner, keyRef: string): Promise<number> {
    const keyName = this.keyNameOf(keyRef);
    await this.vault.write(`${this.mount}/keys/${keyName}/rotate`, {});
    return (await this.readVersions(_owner, keyRef)).latestVersion;
  }

  async rewrapDek(_owner: TenantKeyOwner, wrapped: WrappedDek): Promise<WrappedDek> {
    const keyName = this.keyNameOf(wrapped.keyRef);
    const response = await this.vault.write(`${this.mount}/rewrap/${keyName}`, { ciphertext: wrapped.wrappedDek });
    const ciphertext = stringField(response, 'ciphertext');
    return { keyRef: wrapped.keyRef, wrappedDek: ciphertext, keyVersion: versionOf(ciphertext) };
  }

  async readVersions(_owner: TenantKeyOwner, keyRef: string): Promise<KeyVersions> {
    const response = await this.vault.read(`${this.mount}/keys/${this.keyNameOf(keyRef)}`);
    return {
      latestVersion: numberField(response, 'latest_version'),
      minDecryptionVersion: numberField(response, 'min_decryption_version'),
    };
  }

  async setMinDecryptionVersion(_owner: TenantKeyOwner, keyRef: string, version: number): Promise<void> {
    await this.vault.write(`${this.mount}/keys/${this.keyNameOf(keyRef)}/config`, { min_decryption_version: version });
  }

  async health(): Promise<KeyServiceHealth> {
    try {
      const body = await this.vault.health();
      if (body.initialized === false) return { status: 'uninitialized' };
      if (body.sealed) return { status: 'sealed' };
    } catch (error) {
      return { status: 'unreachable', detail: classifyVaultError(error, 'sys/health').message };
    }

    // sys/health needs no token, so an expired or revoked token would still look healthy.
    try {
      await this.vault.checkToken();
      return { status: 'ok' };
    } catch (error) {
      const failure = error instanceof KeyServiceUnavailableError ? error : classifyVaultError(error, 'auth/token/lookup-self');
      return { status: failure instanceof KeyServiceUnavailableError && failure.reason === 'denied' ? 'denied' : 'unreachable', detail: failure.message };
    }
  }

  close(): Promise<void> {
    return this.vault.close();
  }

  private async keyExists(keyName: string): Promise<boolean> {
    try {
      await this.vault.read(`${this.mount}/keys/${keyName}`);
      return true;
    } catch (error) {
      if (error instanceof VaultRequestError && error.statusCode === 404) return false;
      throw error;
    }
  }

  /**
   * Return the transit key name of a stored reference. The reference, not the tenant code,
   * is authoritative, and it must point into the configured mount: a registry row
   * cannot make this process use a key elsewhere in Vault.
   */
  assertOwnsKeyRef(keyRef: string): void {
    this.keyNameOf(keyRef);
  }

  private keyNameOf(keyRef: string): string {
    const prefix = `${KEY_REF_PREFIX}${this.mount}/keys/`;
    const name = keyRef.startsWith(prefix) ? keyRef.slice(prefix.length) : '';
    if (!/^[a-z][a-z0-9_]{1,30}$/.test(name)) {
      throw new StrataError(
        'KEY_REF_MISMATCH',
        `key reference ${JSON.stringify(keyRef)} is not a transit key under ${this.mount}/keys/; the tenant was created with another key provider or mount`,
        422,
      );
    }
    return name;
  }
}

/** The key version of a Transit ciphertext, `vault:v<N>:<base64>`. */
export function versionOf(ciphertext: string): number {
  const match = /^vault:v(\d+):/.exec(ciphertext);
  if (!match) throw new VaultRequestError('Vault returned a ciphertext without a vault:v<N>: prefix', 200);
  return Number(match[1]);
}

function stringField(response: VaultResponse, field: string): string {
  const value = response.data?.[field];
  if (typeof value !== 'string') throw new VaultRequestError(`Vault response has no ${field}`, 200);
  return value;
}

function numberField(response: VaultResponse, field: string): number {
  const value = response.data?.[field];
  if (typeof value !== 'number') throw new VaultRequestError(`Vault response has no numeric ${field}`, 200);
  return value;
}
