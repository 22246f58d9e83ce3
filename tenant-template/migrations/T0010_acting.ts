import { Migration } from '@mikro-orm/migrations';

const TENANT_ID = "tenant_id uuid NOT NULL DEFAULT nullif(current_setting('app.tenant_id', true), '')::uuid";
const NOW_UNIX = 'extract(epoch from now())::bigint';

/**
 * States a tier object may hold and the moves between them. Later migrations add
 * their own states and moves with plain INSERTs into `tier_state` and
 * `tier_transition`; the triggers read these tables, so no trigger changes.
 */
const STATES: { state: string; initial: boolean; droppable: boolean }[] = [
  { state: 'PLANNED', initial: true, droppable: true },
  { state: 'IN_PROGRESS', initial: false, droppable: false },
  { state: 'STUBBED', initial: false, droppable: false },
  { state: 'FAILED', initial: false, droppable: true },
  { state: 'STALE', initial: false, droppable: true },
  { state: 'RECALLING', initial: false, droppable: false },
  { state: 'REHYDRATED', initial: false, droppable: true },
  // T0001 allowed DELETED; no code writes it, and a later migration defines its moves.
  { state: 'DELETED', initial: false, droppable: true },
];

const TRANSITIONS: [from: string, to: string][] = [
  ['PLANNED', 'IN_PROGRESS'],
  ['IN_PROGRESS', 'STUBBED'],
  ['IN_PROGRESS', 'FAILED'],
  ['IN_PROGRESS', 'STALE'],
  ['FAILED', 'PLANNED'],
  // A newer scan shows a stale or recalled file cold again.
  ['STALE', 'PLANNED'],
  ['REHYDRATED', 'PLANNED'],
  ['STUBBED', 'RECALLING'],
  ['RECALLING', 'REHYDRATED'],
  ['RECALLING', 'STUBBED'],
];

/**
 * Acting: agents claim tier objects under a lease with a fencing token, report
 * results, and the database enforces which state moves are legal.
 *
 * - `tier_object` gains the lease (expiry, fence, holder), the Tier-2 key computed at
 *   the first claim (and the full key when it had to be shortened), the file id from
 *   the scan, and the recorded result. The fence
 *   comes from one sequence per tenant schema, so every claim's fence is larger than
 *   any earlier one.
 * - `tier_state` and `tier_transition` hold the state machine. Statement-level
 *   triggers with transition tables check a whole UPDATE, INSERT or DELETE in one
 *   join, so a claim of 256 rows costs one check, not 256.
 * - `tier_result_log` keeps every accepted result for the error-rate stop and for
 *   history; `share_acting` records shares whose claims are paused.
 * - `tier_policy` and `tier_exclusion` hold the planning policy per share and the
 *   tenant's exclusion list.
 */
export class T0010Acting extends Migration {
  override async up(): Promise<void> {
    this.addTierObjectColumns();
    this.addStateMachine();
    this.addResultLog();
    this.addPolicies();
    this.addGrants();
  }

  private addTierObjectColumns(): void {
    this.addSql(`
      ALTER TABLE tier_object
        ADD COLUMN frn numeric(20, 0),
        ADD COLUMN tier2_key text,
        ADD COLUMN tier2_full_key text,
        ADD COLUMN fence bigint NOT NULL DEFAULT 0,
        ADD COLUMN lease_expires_at bigint,
        ADD COLUMN leased_by text,
        ADD COLUMN claimed_at bigint,
        ADD COLUMN attempts integer NOT NULL DEFAULT 0,
        ADD COLUMN result_fence bigint,
        ADD COLUMN last_outcome text,
        ADD COLUMN sha256 bytea CHECK (sha256 IS NULL OR length(sha256) = 32),
        ADD COLUMN last_error text`);
    this.addSql('CREATE SEQUENCE tier_fence AS bigint');
    this.addSql('ALTER TABLE tier_object DROP CONSTRAINT tier_object_state_check');

    // Claims walk these in id order and stop after N rows; the few leased rows with a
    // live lease are skipped by the filter.
    this.addSql("CREATE INDEX tier_object_tier_queue ON tier_object (share_name, tier_id) WHERE state IN ('PLANNED', 'IN_PROGRESS')");
    this.addSql("CREATE INDEX tier_object_recall_queue ON tier_object (share_name, tier_id) WHERE state IN ('STUBBED', 'RECALLING')");
  }

  private addStateMachine(): void {
    this.addSql(`
      CREATE TABLE tier_state (
        ${TENANT_ID},
        state text PRIMARY KEY,
        initial boolean NOT NULL DEFAULT false,
        droppable boolean NOT NULL DEFAULT false
      )`);
    this.addSql(`
      CREATE TABLE tier_transition (
        ${TENANT_ID},
        from_state text NOT NULL REFERENCES tier_state (state),
        to_state text NOT NULL REFERENCES tier_state (state),
        PRIMARY KEY (from_state, to_state)
      )`);
    const states = STATES.map((s) => `('${s.state}', ${s.initial}, ${s.droppable})`).join(', ');
    this.addSql(`INSERT INTO tier_state (state, initial, droppable) VALUES ${states}`);
    const moves = TRANSITIONS.map(([from, to]) => `('${from}', '${to}')`).join(', ');
    this.addSql(`INSERT INTO tier_transition (from_state, to_state) VALUES ${moves}`);

    // The functions qualify the rule tables with the trigger's own schema instead of
    // relying on search_path, so a superuser's ad hoc UPDATE is checked too. They are
    // SECURITY INVOKER: the caller's role reads the rules under RLS, and a transaction
    // without a tenant sees no rules, so every move fails closed.
    this.addSql(`
      CREATE FUNCTION tier_object_check_update() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        bad record;
      BEGIN
        EXECUTE format(
          'SELECT o.tier_id, o.state AS from_state, n.state AS to_state
             FROM old_rows o JOIN new_rows n ON n.tier_id = o.tier_id
            WHERE o.state <> n.state
              AND NOT EXISTS (SELECT 1 FROM %I.tier_transition r WHERE r.from_state = o.state AND r.to_state = n.state)
            LIMIT 1', TG_TABLE_SCHEMA) INTO bad;
        IF bad.tier_id IS NOT NULL THEN
          RAISE EXCEPTION 'illegal tier_object state transition % -> % (tier_id %)', bad.from_state, bad.to_state, bad.tier_id
            USING ERRCODE = 'check_violation', HINT = 'allowed moves are listed in tier_transition';
        END IF;
        RETURN NULL;
      END $$`);
    this.addSql(`
      CREATE FUNCTION tier_object_check_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        bad record;
      BEGIN
        EXECUTE format(
          'SELECT n.tier_id, n.state FROM new_rows n
            WHERE NOT EXISTS (SELECT 1 FROM %I.tier_state s WHERE s.state = n.state AND s.initial)
            LIMIT 1', TG_TABLE_SCHEMA) INTO bad;
        IF bad.tier_id IS NOT NULL THEN
          RAISE EXCEPTION 'tier_object cannot start in state % (tier_id %)', bad.state, bad.tier_id
            USING ERRCODE = 'check_violation', HINT = 'initial states are marked in tier_state';
        END IF;
        RETURN NULL;
      END $$`);
    this.addSql(`
      CREATE FUNCTION tier_object_check_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        bad record;
      BEGIN
        EXECUTE format(
          'SELECT o.tier_id, o.state FROM old_rows o
            WHERE NOT EXISTS (SELECT 1 FROM %I.tier_state s WHERE s.state = o.state AND s.droppable)
            LIMIT 1', TG_TABLE_SCHEMA) INTO bad;
        IF bad.tier_id IS NOT NULL THEN
          RAISE EXCEPTION 'tier_object in state % cannot be deleted (tier_id %)', bad.state, bad.tier_id
            USING ERRCODE = 'check_violation', HINT = 'droppable states are marked in tier_state';
        END IF;
        RETURN NULL;
      END $$`);
    this.addSql(`
      CREATE TRIGGER tier_object_transitions AFTER UPDATE ON tier_object
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION tier_object_check_update()`);
    this.addSql(`
      CREATE TRIGGER tier_object_initial_state AFTER INSERT ON tier_object
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION tier_object_check_insert()`);
    this.addSql(`
      CREATE TRIGGER tier_object_drops AFTER DELETE ON tier_object
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION tier_object_check_delete()`);
  }

  private addResultLog(): void {
    // Recording results prunes rows past the retention (T0017 and pruneResultLog.ts).
    this.addSql(`
      CREATE TABLE tier_result_log (
        ${TENANT_ID},
        result_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tier_id bigint NOT NULL,
        share_name text NOT NULL,
        fence bigint NOT NULL,
        kind text NOT NULL CHECK (kind IN ('tier', 'recall')),
        outcome text NOT NULL,
        token_id text NOT NULL,
        at_unix bigint NOT NULL DEFAULT ${NOW_UNIX},
        error text
      )`);
    this.addSql('CREATE INDEX tier_result_log_share ON tier_result_log (share_name, result_id DESC)');

    // One row per share whose claims stopped: paused_at set until an operator resumes.
    // Results at or before window_start_result_id no longer count towards the rate.
    this.addSql(`
      CREATE TABLE share_acting (
        ${TENANT_ID},
        share_name text PRIMARY KEY,
        paused_at bigint,
        paused_reason text,
        window_start_result_id bigint NOT NULL DEFAULT 0,
        resumed_at bigint,
        resumed_by text
      )`);
  }

  private addPolicies(): void {
    // share_name '*' is the tenant's default for shares without their own policy.
    this.addSql(`
      CREATE TABLE tier_policy (
        ${TENANT_ID},
        share_name text PRIMARY KEY,
        min_age_seconds bigint NOT NULL CHECK (min_age_seconds > 0),
        age_basis text NOT NULL DEFAULT 'auto' CHECK (age_basis IN ('auto', 'access', 'modification', 'later')),
        min_size_bytes bigint NOT NULL DEFAULT 0 CHECK (min_size_bytes >= 0),
        include_globs text[] NOT NULL DEFAULT '{}',
        exclude_globs text[] NOT NULL DEFAULT '{}',
        max_failure_rate real CHECK (max_failure_rate > 0 AND max_failure_rate <= 1),
        updated_at bigint NOT NULL DEFAULT ${NOW_UNIX},
        updated_by text NOT NULL
      )`);

    // A NULL share applies the pattern to every share.
    this.addSql(`
      CREATE TABLE tier_exclusion (
        ${TENANT_ID},
        exclusion_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        share_name text,
        pattern text NOT NULL CHECK (pattern <> ''),
        reason text,
        added_by text NOT NULL,
        added_at bigint NOT NULL DEFAULT ${NOW_UNIX},
        UNIQUE NULLS NOT DISTINCT (share_name, pattern)
      )`);

    for (const table of ['tier_state', 'tier_transition', 'tier_result_log', 'share_acting', 'tier_policy', 'tier_exclusion']) {
      this.addSql(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      this.addSql(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
      this.addSql(`
        CREATE POLICY tenant_isolation ON ${table}
          USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
          WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`);
    }
  }

  private addGrants(): void {
    const machineReaders = 'strata_api, strata_planner, strata_actor, strata_sanitizer';
    this.addSql(`GRANT SELECT ON tier_state, tier_transition TO ${machineReaders}`);

    this.addSql(`
      GRANT UPDATE (state, fence, lease_expires_at, leased_by, claimed_at, attempts, result_fence, last_outcome,
                    sha256, last_error, tier2_key, tier2_full_key, acted_at)
        ON tier_object TO strata_actor`);
    this.addSql('GRANT USAGE ON SEQUENCE tier_fence TO strata_actor');
    this.addSql('GRANT SELECT, INSERT ON tier_result_log TO strata_actor');
    this.addSql('GRANT SELECT, INSERT, UPDATE ON share_acting TO strata_actor');
    this.addSql('GRANT SELECT ON tier_policy, tier_exclusion TO strata_actor');
    this.addSql('GRANT SELECT ON tier_result_log, share_acting, tier_policy, tier_exclusion TO strata_sanitizer');

    this.addSql('GRANT SELECT, INSERT, UPDATE, DELETE ON tier_policy, tier_exclusion TO strata_planner');
    this.addSql('GRANT SELECT ON share_acting TO strata_planner');
  }
}
