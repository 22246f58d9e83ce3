import { Migration } from '@mikro-orm/migrations';

/**
 * The function roles of the stages that come after planning: `strata_actor`,
 * `strata_sanitizer` and `strata_report`. Tenant schemas grant to them in tenant
 * migration T0006. As in M0001, only missing roles are created, because roles are
 * cluster-wide and another database of the cluster may have made them already.
 *
 * Unlike M0001, the migrating login is not made a member: migrations never switch to
 * these roles, and the runtime login gets them from `strata db create-login-role`.
 */
export class M0002StageRoles extends Migration {
  override async up(): Promise<void> {
    for (const role of ['strata_actor', 'strata_sanitizer', 'strata_report']) {
      this.addSql(`
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
            CREATE ROLE ${role} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$`);
    }
  }
}
