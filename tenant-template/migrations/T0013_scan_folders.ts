import { Migration } from '@mikro-orm/migrations';

/**
 * A scan's folders are staged with its rows and added to `dir` once, at finalisation.
 *
 * Before, each upload looked up its chunk's folders and inserted the new ones into
 * `dir`. Its primary key is ordered by hash, so 50,000 new folders touched nearly every
 * leaf page of a share's index, once per chunk, and after each checkpoint every one of
 * those pages went to the WAL whole again. On a 5M-row first scan the folder step grew
 * from 0.6 to 1.3 s per chunk, twice the COPY of the chunk's rows. Now:
 * - `scan_dir` holds each scan's folders (hash and path) in a partition per
 *   scan, made and dropped with the scan's partition of `file`, and unindexed; an upload
 *   appends its chunk's folders with a second COPY in its own transaction;
 * - finalisation adds the scan's new folders to `dir` in one insert in hash order and
 *   checks the stored ones for hash collisions in one join.
 * Folder paths are still checked per chunk, at their line, in Node. A hash collision
 * now fails the scan at finalisation rather than the chunk at upload.
 *
 * Like `file`, the table belongs to the stager, because COPY FROM refuses tables whose
 * RLS applies to the loading role, and each partition's CHECK pins its rows to its tenant.
 *
 * NOTE: strata_api keeps INSERT on `dir`, which it no longer needs, so that API
 * processes of the previous release keep working until they are restarted.
 */
export class T0013ScanFolders extends Migration {
  override async up(): Promise<void> {
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      CREATE TABLE scan_dir (
        tenant_id uuid NOT NULL,
        scan_id bigint NOT NULL,
        dir_hash bigint NOT NULL,
        dir_path text NOT NULL
      ) PARTITION BY LIST (scan_id)`);
    this.addSql('ALTER TABLE scan_dir ENABLE ROW LEVEL SECURITY');
    this.addSql(`
      CREATE POLICY tenant_isolation ON scan_dir
        USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`);
    this.addSql('GRANT SELECT ON scan_dir TO strata_ingest');
    this.replacePartitionFunctions();
    this.addSql('SET LOCAL ROLE strata_owner');

    // Scans still open keep their earlier chunks' folders in `dir` and stage the rest.
    // The stager keeps SELECT on `scan` (under its forced RLS) for the functions' checks.
    this.addSql('GRANT SELECT ON scan TO strata_stager');
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      DO $$
      DECLARE
        s record;
      BEGIN
        FOR s IN SELECT scan_id FROM scan WHERE status IN ('OPEN', 'COMPLETING') ORDER BY scan_id LOOP
          PERFORM create_scan_folders(s.scan_id);
        END LOOP;
      END $$`);
    this.addSql('SET LOCAL ROLE strata_owner');
  }

  /**
   * `create_scan_partition` also makes the scan's partition of `scan_dir` (through
   * `create_scan_folders`), and `drop_scan_partition` drops both; `drop_scan_folders`
   * drops a finished scan's staged folders alone, `count_scan_partition` totals a scan,
   * and `index_scan_partition` leaves the partition's ANALYZE to
   * `analyze_scan_partition`.
   *
   * `strata_api` and `strata_ingest` serve every tenant and may run every tenant's
   * functions, which act as the stager and so pass RLS. Each function therefore first
   * reads the scan from `scan` under its forced RLS: a session whose `app.tenant_id` is
   * another tenant's finds none and is refused. A drop also needs the scan FAILED or
   * EXPIRED (its staged folders: merged), and a create needs it OPEN. Each step is skipped
   * when its table exists or is gone already, so repeating a call is harmless.
   */
  private replacePartitionFunctions(): void {
    this.addSql(`
      DO $outer$
      DECLARE
        schema_name text := current_schema();
      BEGIN
        -- The scan's status as the session's tenant sees it through scan's forced RLS.
        -- A session of another tenant sees no row and is rejected.
        EXECUTE format($f$
          CREATE FUNCTION %1$I.tenant_scan_status(p_scan_id bigint)
          RETURNS text LANGUAGE plpgsql STABLE SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            scan_status text;
          BEGIN
            SELECT status INTO scan_status FROM scan WHERE scan_id = p_scan_id;
            IF scan_status IS NULL THEN
              RAISE EXCEPTION 'scan %% not found for the tenant in app.tenant_id', p_scan_id;
            END IF;
            RETURN scan_status;
          END $body$$f$, schema_name);
        EXECUTE format('REVOKE ALL ON FUNCTION %1$I.tenant_scan_status(bigint) FROM PUBLIC', schema_name);

        EXECUTE format($f$
          CREATE FUNCTION %1$I.create_scan_folders(p_scan_id bigint)
          RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
            part text := 'scan_dir_s' || p_scan_id;
            scan_status text;
          BEGIN
            IF tenant IS NULL THEN RAISE EXCEPTION 'app.tenant_id is not set'; END IF;
            scan_status := tenant_scan_status(p_scan_id);
            IF scan_status NOT IN ('OPEN', 'COMPLETING') THEN RAISE EXCEPTION 'scan %% is %%, not open', p_scan_id, scan_status; END IF;
            IF to_regclass(format('%%I.%%I', current_schema(), part)) IS NOT NULL THEN RETURN; END IF;

            EXECUTE format(
              'CREATE TABLE %%1$I.%%2$I PARTITION OF %%1$I.scan_dir (
                 tenant_id DEFAULT %%3$L, scan_id DEFAULT %%4$s,
                 CONSTRAINT tenant_is_scan_tenant CHECK (tenant_id = %%3$L::uuid)
               ) FOR VALUES IN (%%4$s)',
              current_schema(), part, tenant, p_scan_id);
            EXECUTE format('ALTER TABLE %%I.%%I ENABLE ROW LEVEL SECURITY', current_schema(), part);
            EXECUTE format(
              $p$CREATE POLICY tenant_isolation ON %%I.%%I USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
              current_schema(), part);
          END $body$$f$, schema_name);

        EXECUTE format('ALTER FUNCTION %1$I.create_scan_partition(bigint, text, integer) RENAME TO create_scan_file_partition', schema_name);
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %1$I.create_scan_file_partition(bigint, text, integer) FROM strata_api', schema_name);
        EXECUTE format($f$
          CREATE FUNCTION %1$I.create_scan_partition(p_scan_id bigint, p_path_style text, p_max_name_chars integer)
          RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            scan_status text;
          BEGIN
            scan_status := tenant_scan_status(p_scan_id);
            IF scan_status <> 'OPEN' THEN RAISE EXCEPTION 'scan %% is %%, not OPEN', p_scan_id, scan_status; END IF;
            PERFORM create_scan_file_partition(p_scan_id, p_path_style, p_max_name_chars);
            PERFORM create_scan_folders(p_scan_id);
          END $body$$f$, schema_name);

        -- A finished scan's folders are in dir; its staged copy is dropped at once.
        EXECUTE format($f$
          CREATE FUNCTION %1$I.drop_scan_folders(p_scan_id bigint)
          RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            scan_status text;
          BEGIN
            scan_status := tenant_scan_status(p_scan_id);
            IF scan_status IN ('OPEN', 'COMPLETING') THEN RAISE EXCEPTION 'scan %% is %%, so its folders are not merged yet', p_scan_id, scan_status; END IF;
            EXECUTE format('DROP TABLE IF EXISTS %%I.%%I', current_schema(), 'scan_dir_s' || p_scan_id);
          END $body$$f$, schema_name);

        EXECUTE format('DROP FUNCTION %1$I.drop_scan_partition(bigint)', schema_name);
        EXECUTE format($f$
          CREATE FUNCTION %1$I.drop_scan_partition(p_scan_id bigint)
          RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            scan_status text;
          BEGIN
            scan_status := tenant_scan_status(p_scan_id);
            IF scan_status NOT IN ('FAILED', 'EXPIRED') THEN RAISE EXCEPTION 'scan %% is %%, and only FAILED and EXPIRED scans lose their rows', p_scan_id, scan_status; END IF;
            EXECUTE format('DROP TABLE IF EXISTS %%I.%%I', current_schema(), 'file_s' || p_scan_id);
            PERFORM drop_scan_folders(p_scan_id);
          END $body$$f$, schema_name);

        -- A scan's totals in one pass over its partition, as its owner. Read through the
        -- parent under RLS, each row paid for the policy's current_setting call and uuid
        -- parse, about as much as the grouping itself; here the tenant is a constant.
        -- The partition has no statistics yet, and a sort to group a million rows took
        -- twice as long as hashing them. It runs beside the index build and the folder
        -- merge, so parallel workers would only crowd the same cores: without them a
        -- 2M-row scan finalised 0.3 to 0.4 s sooner.
        EXECUTE format($f$
          CREATE FUNCTION %1$I.count_scan_partition(p_scan_id bigint,
            OUT dirs bigint, OUT files bigint, OUT bytes bigint, OUT atime_suspect bigint)
          LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp SET enable_sort = off
          SET max_parallel_workers_per_gather = 0 AS $body$
          DECLARE
            tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
            part text := 'file_s' || p_scan_id;
          BEGIN
            IF tenant IS NULL THEN RAISE EXCEPTION 'app.tenant_id is not set'; END IF;
            PERFORM tenant_scan_status(p_scan_id);
            IF to_regclass(format('%%I.%%I', current_schema(), part)) IS NULL THEN
              RAISE EXCEPTION 'scan %% has no file partition', p_scan_id;
            END IF;
            EXECUTE format(
              'SELECT count(*), coalesce(sum(n), 0)::bigint, coalesce(sum(b), 0)::bigint, coalesce(sum(s), 0)::bigint
                 FROM (SELECT dir_hash, count(*) AS n, sum(size_bytes) AS b,
                              count(*) FILTER (WHERE atime_unix <= ctime_unix OR atime_unix < mtime_unix) AS s
                         FROM %%I.%%I WHERE tenant_id = $1 GROUP BY dir_hash) AS per_dir', current_schema(), part)
              INTO dirs, files, bytes, atime_suspect USING tenant;
          END $body$$f$, schema_name);

        -- The unique index alone: its ANALYZE moves to analyze_scan_partition, which
        -- finalisation calls once the scan is OK, because the index build is the longest
        -- of the three finalisation steps of a rescan and ANALYZE read most of the
        -- partition again on its path.
        EXECUTE format('DROP FUNCTION %1$I.index_scan_partition(bigint)', schema_name);
        EXECUTE format($f$
          CREATE FUNCTION %1$I.index_scan_partition(p_scan_id bigint)
          RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          DECLARE
            part text := 'file_s' || p_scan_id;
            removed bigint := 0;
          BEGIN
            PERFORM tenant_scan_status(p_scan_id);
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
            RETURN removed;
          END $body$$f$, schema_name);

        EXECUTE format($f$
          CREATE FUNCTION %1$I.analyze_scan_partition(p_scan_id bigint)
          RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
          BEGIN
            PERFORM tenant_scan_status(p_scan_id);
            IF to_regclass(format('%%I.%%I', current_schema(), 'file_s' || p_scan_id)) IS NOT NULL THEN
              EXECUTE format('ANALYZE %%I.%%I', current_schema(), 'file_s' || p_scan_id);
            END IF;
          END $body$$f$, schema_name);

        EXECUTE format('REVOKE ALL ON FUNCTION %1$I.index_scan_partition(bigint), %1$I.analyze_scan_partition(bigint) FROM PUBLIC', schema_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.index_scan_partition(bigint), %1$I.analyze_scan_partition(bigint) TO strata_ingest', schema_name);

        EXECUTE format('REVOKE ALL ON FUNCTION %1$I.create_scan_folders(bigint), %1$I.create_scan_file_partition(bigint, text, integer), %1$I.create_scan_partition(bigint, text, integer), %1$I.drop_scan_folders(bigint), %1$I.drop_scan_partition(bigint), %1$I.count_scan_partition(bigint) FROM PUBLIC', schema_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.create_scan_partition(bigint, text, integer) TO strata_api', schema_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.drop_scan_folders(bigint), %1$I.drop_scan_partition(bigint), %1$I.count_scan_partition(bigint) TO strata_ingest', schema_name);
      END $outer$`);
  }
}
