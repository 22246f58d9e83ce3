import { Migration } from '@mikro-orm/migrations';

/**
 * The Tier-2 target of each share: its kind, its settings in clear, and its
 * credentials sealed with the tenant's data key (`sv1:` AES-256-GCM text made by
 * src/keys/envelope.ts), so a dump of the schema holds no usable secret.
 *
 * `strata_planner` writes targets, because choosing where a share's files go is part
 * of planning; the CLI runs `strata target` under it. The planner, the actor (agents
 * copying and recalling files) and the sanitizer (listing Tier-2) read them.
 */
export class T0009TierTargets extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE tier_target (
        tenant_id uuid NOT NULL DEFAULT nullif(current_setting('app.tenant_id', true), '')::uuid,
        share_name text PRIMARY KEY CHECK (
          share_name ~ '^[^[:cntrl:]"/\\\\[\\]:|<>+=;,?*]{1,80}$' AND share_name !~ '^ ' AND share_name !~ ' $'),
        kind text NOT NULL CHECK (kind IN ('fs', 's3', 'azure')),
        settings jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
        credentials_sealed text CHECK (credentials_sealed LIKE 'sv1:%'),
        created_at bigint NOT NULL DEFAULT extract(epoch from now())::bigint,
        updated_at bigint NOT NULL DEFAULT extract(epoch from now())::bigint
      )`);

    this.addSql('ALTER TABLE tier_target ENABLE ROW LEVEL SECURITY');
    this.addSql('ALTER TABLE tier_target FORCE ROW LEVEL SECURITY');
    this.addSql(`
      CREATE POLICY tenant_isolation ON tier_target
        USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
        WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`);

    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON tier_target TO strata_planner');
    this.addSql('GRANT SELECT ON tier_target TO strata_actor, strata_sanitizer');
  }
}
