import { Migration } from '@mikro-orm/migrations';

/**
 * Key versions and data-key rotation state on the tenant registry.
 *
 * - `key_version`: the version of the tenant's key-encryption key that wrapped
 *   `wrapped_dek`. `strata keys set-min-version` reads it to prove that no stored
 *   ciphertext is older than the version it is asked to retire. Rows made before this
 *   migration come from the local keyring, which has version 1 only.
 * - `pending_wrapped_dek` and `pending_key_version`: the next data key while
 *   `strata keys rotate-dek` re-encrypts the tenant's secrets. They are set when a
 *   rotation starts and moved into `wrapped_dek` when it ends, so an interrupted
 *   rotation resumes with the same new key.
 */
export class M0004TenantKeyVersions extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE control.tenant ADD COLUMN key_version integer NOT NULL DEFAULT 1 CHECK (key_version > 0)');
    this.addSql('ALTER TABLE control.tenant ADD COLUMN pending_wrapped_dek text');
    this.addSql('ALTER TABLE control.tenant ADD COLUMN pending_key_version integer CHECK (pending_key_version > 0)');
    this.addSql(`
      ALTER TABLE control.tenant ADD CONSTRAINT tenant_pending_dek_complete
        CHECK ((pending_wrapped_dek IS NULL) = (pending_key_version IS NULL))`);
  }

  override async down(): Promise<void> {
    this.addSql('ALTER TABLE control.tenant DROP CONSTRAINT tenant_pending_dek_complete');
    this.addSql('ALTER TABLE control.tenant DROP COLUMN pending_key_version');
    this.addSql('ALTER TABLE control.tenant DROP COLUMN pending_wrapped_dek');
    this.addSql('ALTER TABLE control.tenant DROP COLUMN key_version');
  }
}
