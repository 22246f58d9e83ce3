import type pg from 'pg';
import { StrataError } from '../errors.ts';
import type { KeyProvider, TenantKeyOwner } from './keyProvider.ts';

/**
 * Hands out a tenant's plaintext data key for the length of one callback. The key is
 * unwrapped by the key provider on each call and zeroed when the callback ends, so no
 * caller keeps a reference to it.
 *
 * TODO: cache unwrapped keys in memory with a TTL and a use limit, so a burst
 * of requests costs one unwrap rather than one per request.
 */
export class TenantDeks {
  constructor(
    private readonly pool: pg.Pool,
    private readonly keys: () => KeyProvider,
  ) {}

  async withDek<T>(owner: TenantKeyOwner, work: (dek: Buffer) => Promise<T> | T): Promise<T> {
    const { rows } = await this.pool.query<{ key_ref: string; wrapped_dek: string }>(
      'SELECT key_ref, wrapped_dek FROM control.tenant WHERE id = $1',
      [owner.id],
    );
    const row = rows[0];
    if (!row) {
      throw StrataError.notFound(`tenant ${JSON.stringify(owner.code)}`);
    }

    const dek = await this.keys().unwrapDek(owner, { keyRef: row.key_ref, wrappedDek: row.wrapped_dek });
    try {
      return await work(dek);
    } finally {
      dek.fill(0);
    }
  }
}
