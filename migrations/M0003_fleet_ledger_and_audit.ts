import { Migration } from '@mikro-orm/migrations';

/**
 * The fleet migration ledger and the control audit trail.
 *
 * - `migration_run` records each `strata migrate` run: what it was asked to do and how
 *   it ended, so a failed, stopped or interrupted run can be resumed by its id. The
 *   per-tenant rows stay in `migration_result`, which now counts attempts because a
 *   resumed run retries a failed tenant under the same run id.
 * - `audit_event` records what operators did to tenants and tokens (suspend, delete,
 *   export, token revoke…). It has no foreign key to `tenant`, so the record of a
 *   deletion outlives the tenant, and a trigger rejects UPDATE, DELETE and TRUNCATE.
 */
export class M0003FleetLedgerAndAudit extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE control.migration_run (
        run_id uuid PRIMARY KEY,
        status text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'DONE', 'FAILED', 'STOPPED')),
        target_version text,
        tenant_codes text[],
        canary integer CHECK (canary > 0),
        started_by text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        tenants_total integer NOT NULL DEFAULT 0,
        tenants_ok integer NOT NULL DEFAULT 0,
        tenants_failed integer NOT NULL DEFAULT 0
      )`);
    this.addSql(`COMMENT ON COLUMN control.migration_run.tenant_codes IS 'tenants the run was restricted to, in wave order; NULL means every tenant'`);

    // Results written before this migration have no run row: give each one, so the
    // foreign key below holds for old and new rows alike.
    this.addSql(`
      INSERT INTO control.migration_run (run_id, status, started_by, started_at, finished_at, tenants_total, tenants_ok, tenants_failed)
      SELECT run_id,
             CASE WHEN bool_or(status = 'FAILED') THEN 'FAILED' ELSE 'DONE' END,
             'before M0002',
             min(finished_at),
             max(finished_at),
             count(*),
             count(*) FILTER (WHERE status = 'OK'),
             count(*) FILTER (WHERE status = 'FAILED')
        FROM control.migration_result
       GROUP BY run_id`);

    this.addSql('ALTER TABLE control.migration_result ADD COLUMN attempts integer NOT NULL DEFAULT 1');
    this.addSql(`
      ALTER TABLE control.migration_result
        ADD CONSTRAINT migration_result_run FOREIGN KEY (run_id) REFERENCES control.migration_run (run_id) ON DELETE CASCADE`);
    this.addSql('CREATE INDEX migration_result_tenant ON control.migration_result (tenant_id, finished_at DESC)');

    this.addSql(`
      CREATE TABLE control.audit_event (
        event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL CHECK (actor <> ''),
        action text NOT NULL CHECK (action ~ '^[a-z]+\\.[a-z_]+$'),
        tenant_id uuid,
        tenant_code text,
        details jsonb NOT NULL DEFAULT '{}'
      )`);
    this.addSql('CREATE INDEX audit_event_tenant ON control.audit_event (tenant_id, at)');

    this.addSql(`
      CREATE FUNCTION control.audit_event_append_only() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog AS $$
      BEGIN
        RAISE EXCEPTION 'control.audit_event is append-only: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    this.addSql(`
      CREATE TRIGGER audit_event_no_update_or_delete BEFORE UPDATE OR DELETE ON control.audit_event
        FOR EACH ROW EXECUTE FUNCTION control.audit_event_append_only()`);
    this.addSql(`
      CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON control.audit_event
        FOR EACH STATEMENT EXECUTE FUNCTION control.audit_event_append_only()`);
  }
}
