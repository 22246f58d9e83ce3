import { inspect } from 'node:util';
import type pg from 'pg';
import { StrataError } from '../errors.ts';
import { openSecret } from './envelope.ts';
import type { KeyProvider, TenantKeyOwner } from './keyProvider.ts';

export interface DekCacheOptions {
  /** Milliseconds an unwrapped key stays cached; 0 unwraps on every call. */
  ttlMs: number;
  /** Callbacks one cached key serves before it is unwrapped again. */
  maxUses: number;
  /** Clock for tests. */
  now?: () => number;
}

interface CachedDek {
  /** The registry's wrapped key this entry was unwrapped from; a rotation changes it. */
  wrappedDek: string;
  dek: Buffer;
  expiresAt: number;
  usesLeft: number;
}

/**
 * Hands out a tenant's plaintext data key for the length of one callback.
 *
 * Unwrapped keys are cached in memory per tenant for `ttlMs` and `maxUses` callbacks,
 * so a burst of requests costs one unwrap rather than one per request. Each call still
 * reads the registry row, and a cached key is used only while the row contains the same
 * wrapped key, so a rotation made by another process takes effect on the next call.
 * Each callback receives its own copy, zeroed when the callback ends; the cached key is
 * zeroed when it is evicted and on `close`. Neither is ever logged or serialised.
 */
export class TenantDeks {
  private readonly cache = new Map<string, CachedDek>();
  private readonly now: () => number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly keys: () => KeyProvider,
    private readonly options: DekCacheOptions = { ttlMs: 0, maxUses: 1 },
  ) {
    this.now = options.now ?? Date.now;
  }

  async withDek<T>(owner: TenantKeyOwner, work: (dek: Buffer) => Promise<T> | T): Promise<T> {
    const { rows } = await this.pool.query<{ key_ref: string; wrapped_dek: string }>(
      'SELECT key_ref, wrapped_dek FROM control.tenant WHERE id = $1',
      [owner.id],
    );
    const row = rows[0];
    if (!row) {
      this.evict(owner.id);
      throw StrataError.notFound(`tenant ${JSON.stringify(owner.code)}`);
    }

    const dek = await this.checkOut(owner, row.key_ref, row.wrapped_dek);
    try {
      return await work(dek);
    } finally {
      dek.fill(0);
    }
  }

  /**
   * Decrypt a value sealed for the tenant. During a data-key rotation a value may
   * already be sealed under the pending key, so that key is tried when the current one
   * fails. The caller zeroes the returned Buffer.
   */
  async openSealed(owner: TenantKeyOwner, sealed: string): Promise<Buffer> {
    let failure: unknown;
    const opened = await this.withDek(owner, (dek) => {
      try {
        return openSecret(dek, owner.id, sealed);
      } catch (error) {
        failure = error;
        return undefined;
      }
    });
    if (opened) return opened;

    const { rows } = await this.pool.query<{ key_ref: string; pending_wrapped_dek: string | null }>(
      'SELECT key_ref, pending_wrapped_dek FROM control.tenant WHERE id = $1',
      [owner.id],
    );
    const pending = rows[0]?.pending_wrapped_dek;
    if (!pending) throw failure;

    const dek = await this.keys().unwrapDek(owner, { keyRef: rows[0]!.key_ref, wrappedDek: pending });
    try {
      return openSecret(dek, owner.id, sealed);
    } finally {
      dek.fill(0);
    }
  }

  /** Drop a tenant's cached key, e.g. after its data key was replaced. */
  evict(tenantId: string): void {
    const entry = this.cache.get(tenantId);
    if (!entry) return;
    entry.dek.fill(0);
    this.cache.delete(tenantId);
  }

  /** Zero and drop every cached key; called when the services close. */
  close(): void {
    for (const tenantId of [...this.cache.keys()]) this.evict(tenantId);
  }

  /** Number of cached keys, for tests and metrics. */
  get size(): number {
    return this.cache.size;
  }

  /** Return a private copy of the tenant's key, from the cache or freshly unwrapped. */
  private async checkOut(owner: TenantKeyOwner, keyRef: string, wrappedDek: string): Promise<Buffer> {
    const cached = this.cache.get(owner.id);
    if (cached && cached.wrappedDek === wrappedDek && cached.expiresAt > this.now() && cached.usesLeft > 0) {
      cached.usesLeft -= 1;
      return Buffer.from(cached.dek);
    }
    this.evict(owner.id);

    // NOTE: concurrent misses for one tenant each unwrap; a burst right after expiry
    // costs one Vault decrypt per waiting call.
    const dek = await this.keys().unwrapDek(owner, { keyRef, wrappedDek });
    if (this.options.ttlMs <= 0 || this.options.maxUses <= 1) return dek;

    // A concurrent miss for the same tenant may have cached a key meanwhile; the later
    // one replaces it, and the earlier is zeroed.
    this.evict(owner.id);
    const entry: CachedDek = { wrappedDek, dek, expiresAt: this.now() + this.options.ttlMs, usesLeft: this.options.maxUses - 1 };
    hideFromInspection(entry);
    this.cache.set(owner.id, entry);
    return Buffer.from(dek);
  }
}

/** Keep the key out of console.log, util.inspect and JSON.stringify of the entry. */
function hideFromInspection(entry: CachedDek): void {
  Object.defineProperty(entry, 'dek', { enumerable: false });
  Object.defineProperty(entry, inspect.custom, { value: () => '[CachedDek]', enumerable: false });
}
