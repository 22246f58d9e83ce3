import { Migration } from '@mikro-orm/migrations';

/**
 * A folder path without the Win32 long-path prefix: `\\?\C:\x` is the folder `C:\x`
 * and `\\?\UNC\server\share\x` is `\\server\share\x`, so a file reported in both forms
 * is one file. POSIX paths start with `/` and pass unchanged.
 */
export const CANONICAL_DIR_SQL = (column: string) => `
  CASE WHEN left(${column}, 4) <> '\\\\?\\' THEN ${column}
       WHEN left(${column}, 8) = '\\\\?\\UNC\\' THEN '\\' || substr(${column}, 8)
       ELSE substr(${column}, 5) END`;

/**
 * Files are written once: a chunk's COPY goes straight into its scan's partition of
 * `file`, and nothing copies them again.
 *
 * Before, every row went into `staging_file`, then a per-chunk job moved it into an
 * indexed `file` table and deleted it from staging: three writes and an index insert
 * per row, at 9 to 19% of a plain COPY's speed. Now:
 * - each scan has its own partition `file_s<scan_id>`, made at scan open with the
 *   tenant id, the limits and the path style as constants, so COPY evaluates no
 *   setting per row;
 * - the partition has no index while chunks load; finalisation builds one unique
 *   index on (dir_hash, name) in one pass, which is also the duplicate check;
 * - an expired scan is a partition to drop, not rows to delete;
 * - folders are keyed by share and hash, without a folder number.
 *
 * PostgreSQL refuses COPY FROM into a table whose RLS applies to the loading role, so
 * `file` and its partitions belong to `strata_stager`, as `staging_file` did: RLS is
 * enabled (every other role reads through the policy) but not forced, and each
 * partition's CHECK pins its rows to its tenant. The stager keeps CREATE on the schema
 * to make partitions; the other roles reach that DDL only through the three SECURITY
 * DEFINER functions below, whose search_path is pinned.
 *
 * Folder paths are checked, and new folders added to `dir`, by the chunk receiver once
 * per distinct folder of the chunk rather than by a CHECK on every row: per-row
 * pattern checks on the path cost as much as the rest of the COPY. The api role may
 * therefore add folders.
 */
export class T0005ScanPartitions extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE file RENAME TO file_before_partitions');
    this.addSql(`
      DO $$ BEGIN
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO strata_stager', current_schema());
      END $$`);

    this.addSql('SET LOCAL ROLE strata_stager');
    this.addFileTable();
    this.addPartitionFunctions();
    this.addSql('SET LOCAL ROLE strata_owner');

    this.moveExistingScans();

    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql('DROP TABLE staging_file');
    this.addSql('SET LOCAL ROLE strata_owner');
    this.addSql('DROP TABLE file_before_partitions');
    this.addScanExpiry();
    this.keyFoldersByHash();
  }

  /**
   * A folder is identified by share and hash alone: the identity column and its second
   * unique index cost about 40% of inserting a scan's new folders, and nothing needs a
   * folder number that the hash does not give. Tier objects follow.
   */
  private keyFoldersByHash(): void {
    this.addSql('ALTER TABLE tier_object ADD COLUMN dir_hash bigint');
    this.addSql('UPDATE tier_object t SET dir_hash = d.dir_hash FROM dir d WHERE d.dir_id = t.dir_id');
    this.addSql('ALTER TABLE tier_object ALTER COLUMN dir_hash SET NOT NULL');
    this.addSql('ALTER TABLE tier_object DROP CONSTRAINT tier_object_file');
    this.addSql('ALTER TABLE tier_object DROP COLUMN dir_id');
    this.addSql('ALTER TABLE tier_object ADD CONSTRAINT tier_object_file UNIQUE (share_name, dir_hash, name)');

    this.addSql('ALTER TABLE dir DROP CONSTRAINT dir_pkey');
    this.addSql('ALTER TABLE dir DROP COLUMN dir_id');
    this.addSql('ALTER TABLE dir DROP CONSTRAINT dir_share_hash');
    this.addSql('ALTER TABLE dir ADD CONSTRAINT dir_pkey PRIMARY KEY (share_name, dir_hash)');
    this.addSql('GRANT SELECT, INSERT ON dir TO strata_api');
  }

  private addFileTable(): void {
    this.addSql(`
      CREATE TABLE file (
        tenant_id uuid NOT NULL,
        scan_id bigint NOT NULL,
        dir_path text NOT NULL,
        name text NOT NULL,
        size_bytes bigint NOT NULL,
        atime_unix bigint NOT NULL,
        mtime_unix bigint NOT NULL,
        ctime_unix bigint NOT NULL,
        frn numeric(20, 0),
        attributes bigint,
        dir_hash bigint NOT NULL GENERATED ALWAYS AS (hashtextextended(${CANONICAL_DIR_SQL('dir_path')}, 0)) STORED,
        CONSTRAINT size_bytes_not_negative CHECK (size_bytes >= 0),
        CONSTRAINT dir_path_not_empty CHECK (dir_path <> ''),
        CONSTRAINT name_is_one_path_segment CHECK (
          name <> '' AND name <> '.' AND name <> '..'
          AND (strpos(name, '/') = 0 OR (name ~ '^/[^/]+$'))),
        CONSTRAINT frn_in_range CHECK (frn >= 0 AND frn < 18446744073709551616),
        CONSTRAINT attributes_in_range CHECK (attributes >= 0 AND attributes < 4294967296)
      ) PARTITION BY LIST (scan_id)`);
    this.addSql('ALTER TABLE file ENABLE ROW LEVEL SECURITY');
    this.addSql(`
      CREATE POLICY tenant_isolation ON file
        USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`);
    this.addSql('GRANT SELECT ON file TO strata_ingest, strata_planner');
  }

  /**
   * The DDL other roles need on `file`, as functions owned by the stager. Each pins its
   * `search_path` to the tenant schema and pg_temp, and finds its tables through
   * `current_schema()`, so no body names the schema: a tenant imported under a new code
   * needs only the pinned path rewritten.
   */
  private addPartitionFunctions(): void {
    this.addSql(`
      DO $outer$
      DECLARE
        schema_name text := current_schema();
      BEGIN
        -- Make the scan's partition, with the tenant, limits and path style of the
        -- calling transaction as constants. Repeating the call is harmless.
        EXECUTE format($f$
          CREATE FUNCTION %1$I.create_scan_partition(p_scan_id bigint, p_path_style text, p_max_path_chars integer, p_max_name_chars integer)
          RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
            part text := 'file_s' || p_scan_id;
            name_rule text := CASE p_path_style
              WHEN 'windows' THEN $rule$strpos(name, '\\') = 0 AND strpos(name, ':') = 0$rule$
              WHEN 'posix' THEN 'true' END;
          BEGIN
            IF tenant IS NULL THEN RAISE EXCEPTION 'app.tenant_id is not set'; END IF;
            IF name_rule IS NULL THEN RAISE EXCEPTION 'unknown path style %%', p_path_style; END IF;
            IF to_regclass(format('%%I.%%I', current_schema(), part)) IS NOT NULL THEN RETURN; END IF;

            EXECUTE format(
              'CREATE TABLE %%1$I.%%2$I PARTITION OF %%1$I.file (
                 tenant_id DEFAULT %%3$L, scan_id DEFAULT %%4$s,
                 CONSTRAINT tenant_is_scan_tenant CHECK (tenant_id = %%3$L::uuid),
                 CONSTRAINT dir_path_within_limit CHECK (octet_length(dir_path) <= %%5$s OR length(dir_path) <= %%5$s),
                 CONSTRAINT name_within_limit CHECK (octet_length(name) <= %%6$s OR length(name) <= %%6$s),
                 CONSTRAINT name_fits_path_style CHECK (%%7$s)
               ) FOR VALUES IN (%%4$s)',
              current_schema(), part, tenant, p_scan_id, p_max_path_chars, p_max_name_chars, name_rule);
            EXECUTE format('ALTER TABLE %%I.%%I ENABLE ROW LEVEL SECURITY', current_schema(), part);
            EXECUTE format(
              $p$CREATE POLICY tenant_isolation ON %%I.%%I USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
              current_schema(), part);
          END $body$$f$, schema_name);

        -- Build the partition's unique index once all chunks are in. Duplicates (the
        -- same file twice in one scan, e.g. under both long-path forms) make the build
        -- fail. Then all but the first copy are deleted and the build runs again.
        -- Returns how many rows were deleted.
        EXECUTE format($f$
          CREATE FUNCTION %1$I.index_scan_partition(p_scan_id bigint)
          RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            part text := 'file_s' || p_scan_id;
            removed bigint := 0;
          BEGIN
            IF to_regclass(format('%%I.%%I', current_schema(), part)) IS NULL THEN
              RAISE EXCEPTION 'scan %% has no file partition', p_scan_id;
            END IF;
            BEGIN
              EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %%I ON %%I.%%I (dir_hash, name)', part || '_key', current_schema(), part);
            EXCEPTION WHEN unique_violation THEN
              EXECUTE format(
                'DELETE FROM %%1$I.%%2$I a USING %%1$I.%%2$I b
                  WHERE a.dir_hash = b.dir_hash AND a.name = b.name AND a.ctid > b.ctid', current_schema(), part);
              GET DIAGNOSTICS removed = ROW_COUNT;
              EXECUTE format('CREATE UNIQUE INDEX %%I ON %%I.%%I (dir_hash, name)', part || '_key', current_schema(), part);
            END;
            EXECUTE format('ANALYZE %%I.%%I', current_schema(), part);
            RETURN removed;
          END $body$$f$, schema_name);

        -- Drop a scan's partition (expired scans).
        EXECUTE format($f$
          CREATE FUNCTION %1$I.drop_scan_partition(p_scan_id bigint)
          RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          BEGIN
            EXECUTE format('DROP TABLE IF EXISTS %%I.%%I', current_schema(), 'file_s' || p_scan_id);
          END $body$$f$, schema_name);

        EXECUTE format('REVOKE ALL ON FUNCTION %1$I.create_scan_partition(bigint, text, integer, integer), %1$I.index_scan_partition(bigint), %1$I.drop_scan_partition(bigint) FROM PUBLIC', schema_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.create_scan_partition(bigint, text, integer, integer) TO strata_api', schema_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.index_scan_partition(bigint), %1$I.drop_scan_partition(bigint) TO strata_ingest', schema_name);
      END $outer$`);
  }

  /**
   * Give every existing scan its partition and copy its files into it, normalised and
   * staged alike; finished scans get their index. Chunks are stored on receipt from now
   * on, so every chunk counts as NORMALIZED.
   */
  private moveExistingScans(): void {
    this.addSql('GRANT SELECT ON file_before_partitions, dir, scan TO strata_stager');
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      DO $$
      DECLARE
        s record;
      BEGIN
        FOR s IN SELECT scan_id, path_style FROM scan ORDER BY scan_id LOOP
          PERFORM create_scan_partition(s.scan_id, s.path_style, 32767, 1024);
        END LOOP;
      END $$`);
    this.addSql(`
      INSERT INTO file (tenant_id, scan_id, dir_path, name, size_bytes, atime_unix, mtime_unix, ctime_unix, frn, attributes)
      SELECT tenant_id, scan_id, dir_path, name, size_bytes, atime_unix, mtime_unix, ctime_unix, frn, attributes
        FROM staging_file`);
    this.addSql(`
      INSERT INTO file (tenant_id, scan_id, dir_path, name, size_bytes, atime_unix, mtime_unix, ctime_unix, frn, attributes)
      SELECT f.tenant_id, f.scan_id, d.dir_path, f.name, f.size_bytes, f.atime_unix, f.mtime_unix, f.ctime_unix, f.frn, f.attributes
        FROM file_before_partitions f
        JOIN scan s ON s.scan_id = f.scan_id
        JOIN dir d ON d.share_name = s.share_name AND d.dir_hash = f.dir_hash`);
    this.addSql(`
      DO $$
      DECLARE
        s record;
      BEGIN
        FOR s IN SELECT scan_id FROM scan WHERE status = 'OK' ORDER BY scan_id LOOP
          PERFORM index_scan_partition(s.scan_id);
        END LOOP;
      END $$`);
    this.addSql('SET LOCAL ROLE strata_owner');
    this.addSql('REVOKE SELECT ON file_before_partitions, dir, scan FROM strata_stager');

    this.addSql(`
      UPDATE ingest_chunk SET state = 'NORMALIZED', inserted_rows = coalesce(inserted_rows, row_count),
             normalized_at = coalesce(normalized_at, extract(epoch from now())::bigint)
       WHERE state = 'RECEIVED'`);
  }

  /** Scans keep the last K OK snapshots per share; older ones become EXPIRED and lose their partition. */
  private addScanExpiry(): void {
    this.addSql('ALTER TABLE scan DROP CONSTRAINT scan_status_check');
    this.addSql("ALTER TABLE scan ADD CONSTRAINT scan_status_check CHECK (status IN ('OPEN', 'COMPLETING', 'OK', 'FAILED', 'EXPIRED'))");
    this.addSql('ALTER TABLE scan ADD COLUMN expired_at bigint');
  }
}
