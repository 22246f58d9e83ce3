import { Migration } from '@mikro-orm/migrations';

/**
 * Privileges of the function roles of the later stages, granted in each tenant schema
 * when it is provisioned or migrated. These are the shared roles from control migration
 * M0002, not roles per tenant, so the number of roles stays fixed for any number of
 * tenants. Identity columns need no sequence privilege for INSERT.
 *
 * - `strata_actor` (agents' claims and results) reads scans, folders and files, moves a
 *   tier object through its states and writes the audit log.
 * - `strata_sanitizer` (reconciliation) reads every tenant table and writes the audit
 *   log. NOTE: its findings tables do not exist yet; they grant INSERT and UPDATE to it
 *   when they are added.
 * - `strata_report` gets USAGE here; T0007 grants it the reporting views.
 */
export class T0006StageRoleGrants extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      DO $$ BEGIN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO strata_actor, strata_sanitizer, strata_report', current_schema());
      END $$`);

    this.addSql('GRANT SELECT ON scan, dir TO strata_actor');
    this.addSql('GRANT SELECT, UPDATE (state, target_uri, acted_at) ON tier_object TO strata_actor');
    this.addSql('GRANT INSERT ON audit_log TO strata_actor');

    this.addSql('GRANT SELECT ON scan, ingest_chunk, dir, tier_object, tier2_inventory, audit_log TO strata_sanitizer');
    this.addSql('GRANT INSERT ON audit_log TO strata_sanitizer');

    // Only the owner of `file` may grant on it: the stager, so that COPY can load it
    // (T0005). strata_owner reads it for the reporting functions of T0007.
    this.addSql(`
      DO $$
      DECLARE
        file_owner text;
      BEGIN
        SELECT tableowner INTO STRICT file_owner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'file';
        EXECUTE format('SET LOCAL ROLE %I', file_owner);
        GRANT SELECT ON file TO strata_actor, strata_sanitizer, strata_owner;
        SET LOCAL ROLE strata_owner;
      END $$`);
  }
}
