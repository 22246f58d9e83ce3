import { Migration } from '@mikro-orm/migrations';

/**
 * A finished scan's partition gets its unique index on `(dir_hash,
 * hashtextextended(name, 0))` instead of `(dir_hash, name)`.
 *
 * The index build is the longest step of a rescan's finalisation, and most of its time
 * is the sort. Two 64-bit integers compare in a few instructions, while a name compares
 * through the database collation's `strcoll`. On 5M synthetic rows (psql, 512 MB of
 * maintenance_work_mem, this project's 2-core test machine) the build took 1.9 s
 * against 2.7 to 3.1 s for the text index; the index is smaller too.
 *
 * Names stay unique per folder: two rows with one name have one hash, so the index
 * rejects them as before, and the duplicate removal keeps one. Two different names of
 * one folder with the same 64-bit hash would be rejected as well. That is unlikely
 * (about n²/2^65 for a folder of n files), but when the rebuild after the duplicate
 * removal still fails, the partition gets the exact text index instead.
 *
 * A lookup by folder and name uses the whole key only when it also compares
 * `hashtextextended(name, 0)`. Without that, the index narrows to the folder and every
 * file of the folder is read: a join from 200 tier objects into a folder of 200,000
 * files took 2.6 s instead of 0.5 ms. Partitions indexed before this migration keep
 * their text index.
 */
export class T0016ScanKeyOnNameHash extends Migration {
  override async up(): Promise<void> {
    // The function acts as the stager, which owns the partitions, so the stager replaces it.
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      DO $outer$
      DECLARE
        schema_name text := current_schema();
      BEGIN
        EXECUTE format($f$
          CREATE OR REPLACE FUNCTION %1$I.index_scan_partition(p_scan_id bigint)
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
              EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %%I ON %%I.%%I (dir_hash, hashtextextended(name, 0))',
                part || '_key', current_schema(), part);
              RETURN 0;
            EXCEPTION WHEN unique_violation THEN
              -- Files listed twice: keep one row of each.
              EXECUTE format(
                'DELETE FROM %%1$I.%%2$I a USING %%1$I.%%2$I b
                  WHERE a.dir_hash = b.dir_hash AND a.name = b.name AND a.ctid > b.ctid', current_schema(), part);
              GET DIAGNOSTICS removed = ROW_COUNT;
            END;
            BEGIN
              EXECUTE format('CREATE UNIQUE INDEX %%I ON %%I.%%I (dir_hash, hashtextextended(name, 0))',
                part || '_key', current_schema(), part);
            EXCEPTION WHEN unique_violation THEN
              -- Two different names of one folder share a 64-bit hash.
              EXECUTE format('CREATE UNIQUE INDEX %%I ON %%I.%%I (dir_hash, name)', part || '_key', current_schema(), part);
            END;
            RETURN removed;
          END $body$$f$, schema_name);
      END $outer$`);
    this.addSql('SET LOCAL ROLE strata_owner');
  }
}
