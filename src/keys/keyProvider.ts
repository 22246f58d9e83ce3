/** The tenant facts a key provider binds its keys to. */
export interface TenantKeyOwner {
  id: string;
  code: string;
}

/** A tenant's data key as stored in the registry: encrypted, with where its key lives. */
export interface WrappedDek {
  /** Where the key-encryption key lives, e.g. `local:<tenant id>` or `vault:transit/keys/<code>`. */
  keyRef: string;
  /** The data key encrypted by that key, in the provider's own versioned text form. */
  wrappedDek: string;
  /** Version of the key-encryption key that wrapped it (always 1 for the local keyring). */
  keyVersion?: number;
}

/** Versions of a tenant's key-encryption key. */
export interface KeyVersions {
  latestVersion: number;
  /** Ciphertext older than this version can no longer be decrypted. */
  minDecryptionVersion: number;
}

/** Key service status, as `/readyz` reports it. */
export interface KeyServiceHealth {
  status: 'ok' | 'sealed' | 'unreachable' | 'uninitialized' | 'standby' | 'denied';
  detail?: string;
}

/**
 * Creates, unwraps, rotates and destroys per-tenant keys. Implementations never log or
 * return a key-encryption key, and return a plaintext data key only from `unwrapDek`.
 * Operations a provider cannot do throw KeyProviderUnsupportedError.
 */
export interface KeyProvider {
  readonly name: string;

  /**
   * Check that `keyRef` names a key this provider keeps, and throw KEY_REF_MISMATCH
   * (422) when it does not: a tenant created under another provider or mount.
   */
  assertOwnsKeyRef(keyRef: string): void;

  /** Create the tenant's key-encryption key and a new data key wrapped by it. */
  createTenantKey(owner: TenantKeyOwner): Promise<WrappedDek>;

  /** Make another data key under the tenant's existing key-encryption key. */
  createDek(owner: TenantKeyOwner, keyRef: string): Promise<WrappedDek>;

  /** Decrypt the tenant's data key; the caller zeroes the Buffer when done. */
  unwrapDek(owner: TenantKeyOwner, wrapped: WrappedDek): Promise<Buffer>;

  /** Destroy the tenant's key-encryption key, making its wrapped data key unreadable for good. */
  destroyTenantKey(owner: TenantKeyOwner, keyRef: string): Promise<void>;

  /** Add a version to the tenant's key-encryption key; returns the new latest version. */
  rotateKey(owner: TenantKeyOwner, keyRef: string): Promise<number>;

  /** Re-encrypt a wrapped data key under the latest key version without exposing it. */
  rewrapDek(owner: TenantKeyOwner, wrapped: WrappedDek): Promise<WrappedDek>;

  readVersions(owner: TenantKeyOwner, keyRef: string): Promise<KeyVersions>;

  setMinDecryptionVersion(owner: TenantKeyOwner, keyRef: string, version: number): Promise<void>;

  health(): Promise<KeyServiceHealth>;

  /** Stop timers (token renewal) so the process can exit. */
  close(): Promise<void>;
}
