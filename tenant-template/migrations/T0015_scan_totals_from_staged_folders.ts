import { Migration } from '@mikro-orm/migrations';

/**
 * `count_scan_partition` counts a scan's folders in its staged folders (`scan_dir`)
 * instead of grouping its file rows by folder.
 *
 * Grouping every file row by `dir_hash` built a hash table of all the scan's folders
 * from all its rows. A 2M-row scan took about 1.8 s, beside the index build and the
 * folder merge on the same two cores. The files, bytes and suspect access times need no
 * grouping, and the staged folders list each folder once per chunk: a fifth of the
 * rows in the benchmark. The two give the same folders, because a chunk stages exactly
 * the folders of its rows. A scan without staged folders (finished before T0013, or
 * whose staged folders were dropped) is still counted by grouping its rows.
 *
 * A scan that was open when T0013 ran has its earlier chunks' folders in `dir` only, so
 * they are staged here as well, for every scan still open. A folder staged twice is
 * counted and merged once.
 */
export class T0015ScanTotalsFromStagedFolders extends Migration {
  override async up(): Promise<void> {
    // The function acts as the stager, which owns the partitions, so the stager replaces it.
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      DO $outer$
      DECLARE
        schema_name text := current_schema();
      BEGIN
        EXECUTE format($f$
          CREATE OR REPLACE FUNCTION %1$I.count_scan_partition(p_scan_id bigint,
            OUT dirs bigint, OUT files bigint, OUT bytes bigint, OUT atime_suspect bigint)
          LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp SET enable_sort = off
          SET max_parallel_workers_per_gather = 0 AS $body$
          DECLARE
            tenant uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
            part text := 'file_s' || p_scan_id;
            staged text := 'scan_dir_s' || p_scan_id;
          BEGIN
            IF tenant IS NULL THEN RAISE EXCEPTION 'app.tenant_id is not set'; END IF;
            PERFORM tenant_scan_status(p_scan_id);
            IF to_regclass(format('%%I.%%I', current_schema(), part)) IS NULL THEN
              RAISE EXCEPTION 'scan %% has no file partition', p_scan_id;
            END IF;

            IF to_regclass(format('%%I.%%I', current_schema(), staged)) IS NULL THEN
              EXECUTE format(
                'SELECT count(*), coalesce(sum(n), 0)::bigint, coalesce(sum(b), 0)::bigint, coalesce(sum(s), 0)::bigint
                   FROM (SELECT dir_hash, count(*) AS n, sum(size_bytes) AS b,
                                count(*) FILTER (WHERE atime_unix <= ctime_unix OR atime_unix < mtime_unix) AS s
                           FROM %%I.%%I WHERE tenant_id = $1 GROUP BY dir_hash) AS per_dir', current_schema(), part)
                INTO dirs, files, bytes, atime_suspect USING tenant;
              RETURN;
            END IF;

            EXECUTE format(
              'SELECT count(*), coalesce(sum(size_bytes), 0)::bigint,
                      count(*) FILTER (WHERE atime_unix <= ctime_unix OR atime_unix < mtime_unix)
                 FROM %%I.%%I WHERE tenant_id = $1', current_schema(), part)
              INTO files, bytes, atime_suspect USING tenant;
            EXECUTE format(
              'SELECT count(*) FROM (SELECT dir_hash FROM %%I.%%I WHERE tenant_id = $1 GROUP BY dir_hash) AS folders',
              current_schema(), staged)
              INTO dirs USING tenant;
          END $body$$f$, schema_name);
      END $outer$`);
    this.addSql('SET LOCAL ROLE strata_owner');
    this.stageFoldersOfOpenScans();
  }

  /** Stages the stored folders of each open scan's file rows, as the stager, which owns both partitions. */
  private stageFoldersOfOpenScans(): void {
    this.addSql('GRANT SELECT ON dir TO strata_stager');
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      DO $$
      DECLARE
        s record;
      BEGIN
        FOR s IN SELECT scan_id, share_name FROM scan WHERE status IN ('OPEN', 'COMPLETING') ORDER BY scan_id LOOP
          CONTINUE WHEN to_regclass(format('%I.%I', current_schema(), 'scan_dir_s' || s.scan_id)) IS NULL
                     OR to_regclass(format('%I.%I', current_schema(), 'file_s' || s.scan_id)) IS NULL;
          EXECUTE format(
            'INSERT INTO %1$I.%2$I (dir_hash, dir_path)
             SELECT d.dir_hash, d.dir_path FROM %1$I.dir d
              WHERE d.share_name = $1 AND d.dir_hash IN (SELECT dir_hash FROM %1$I.%3$I)',
            current_schema(), 'scan_dir_s' || s.scan_id, 'file_s' || s.scan_id)
            USING s.share_name;
        END LOOP;
      END $$`);
    this.addSql('SET LOCAL ROLE strata_owner');
    this.addSql('REVOKE SELECT ON dir FROM strata_stager');
  }
}
