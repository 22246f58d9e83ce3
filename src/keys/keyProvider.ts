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
}

/**
 * Creates, unwraps and destroys per-tenant keys. Implementations never log or return a
 * key-encryption key, and return a plaintext data key only from `unwrapDek`.
 */
export interface KeyProvider {
  readonly name: string;

  /** Create the tenant's key-encryption key and a new data key wrapped by it. */
  createTenantKey(owner: TenantKeyOwner): Promise<WrappedDek>;

  /** Decrypt the tenant's data key; the caller zeroes the Buffer when done. */
  unwrapDek(owner: TenantKeyOwner, wrapped: WrappedDek): Promise<Buffer>;

  /** Destroy the tenant's key-encryption key, making its wrapped data key unreadable for good. */
  destroyTenantKey(owner: TenantKeyOwner, keyRef: string): Promise<void>;
}
