import { Migration } from '@mikro-orm/migrations';

/**
 * The control schema (tenant registry, API tokens, migration results) and the
 * cluster-wide roles that tenant schemas grant to.
 */
export class M0001ControlSchema extends Migration {
  override async up(): Promise<void> {
    // Roles are cluster-wide, so an administrator or another database of the same
    // cluster may have made them already. PostgreSQL checks the CREATEROLE privilege
    // before it looks for the role, so only missing roles are created; a race with a
    // concurrent creator still ends in "exists", which is fine.
    for (const role of ['strata_owner', 'strata_stager', 'strata_api', 'strata_ingest', 'strata_planner']) {
      this.addSql(`
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
            CREATE ROLE ${role} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$`);
    }

    // The service's login must be able to SET ROLE to each of them. A superuser
    // already can; any other login is made a member of the roles it lacks.
    this.addSql(`
      DO $$
      DECLARE
        role_name text;
      BEGIN
        IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
          RETURN;
        END IF;
        FOREACH role_name IN ARRAY ARRAY['strata_owner', 'strata_stager', 'strata_api', 'strata_ingest', 'strata_planner'] LOOP
          IF NOT pg_has_role(current_user, role_name, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', role_name, current_user);
          END IF;
        END LOOP;
      END $$`);

    this.addSql('CREATE SCHEMA IF NOT EXISTS control');

    this.addSql(`
      CREATE TABLE control.tenant (
        id uuid PRIMARY KEY,
        code text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{1,30}$'),
        name text NOT NULL CHECK (name <> ''),
        schema_name text NOT NULL UNIQUE,
        key_ref text NOT NULL,
        wrapped_dek text NOT NULL,
        status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED')),
        schema_version text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    this.addSql(`
      CREATE TABLE control.api_token (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES control.tenant (id) ON DELETE CASCADE,
        name text NOT NULL,
        token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
        scopes text[] NOT NULL CHECK (scopes <@ ARRAY['upload', 'act', 'inventory', 'report', 'admin']),
        expires_at timestamptz,
        revoked_at timestamptz,
        last_used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    this.addSql('CREATE INDEX api_token_tenant ON control.api_token (tenant_id)');

    this.addSql(`
      CREATE TABLE control.migration_result (
        run_id uuid NOT NULL,
        tenant_id uuid NOT NULL,
        schema_name text NOT NULL,
        status text NOT NULL CHECK (status IN ('OK', 'FAILED')),
        applied text[] NOT NULL DEFAULT '{}',
        error text,
        finished_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, tenant_id)
      )`);
  }
}
