import { Migration } from '@mikro-orm/migrations';

/**
 * A file row names its folder by the folder's 64-bit hash alone, not by its path.
 *
 * The chunk receiver now computes each folder's hash in Node (the same value as
 * `hashtextextended(path, 0)`) and hands COPY the hash where the chunk had the path, so
 * `dir_hash` stops being a generated column and `dir_path` leaves `file`. Every query
 * already took the path from `dir`, joined by share and hash. A row shrinks from about
 * 220 to about 110 bytes with the benchmark's paths, and COPY neither parses nor hashes
 * a path per row; the per-folder checks that replaced the path CHECKs run in Node.
 *
 * Existing partitions keep their rows; dropping a column only hides it, and its space
 * comes back when the scan's partition is dropped by retention.
 */
export class T0012FolderHashRows extends Migration {
  override async up(): Promise<void> {
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql('ALTER TABLE file ALTER COLUMN dir_hash DROP EXPRESSION');
    this.addSql('ALTER TABLE file DROP COLUMN dir_path');
    this.replacePartitionFunction();
    this.addSql('SET LOCAL ROLE strata_owner');
  }

  /** `create_scan_partition` without the path limit, which the chunk receiver now checks per folder. */
  private replacePartitionFunction(): void {
    this.addSql(`
      DO $outer$
      DECLARE
        schema_name text := current_schema();
      BEGIN
        EXECUTE format('DROP FUNCTION %I.create_scan_partition(bigint, text, integer, integer)', schema_name);

        -- Make the scan's partition, with the tenant, name limit and path style of the
        -- calling transaction as constants. Repeating the call is harmless.
        EXECUTE format($f$
          CREATE FUNCTION %1$I.create_scan_partition(p_scan_id bigint, p_path_style text, p_max_name_chars integer)
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
                 CONSTRAINT name_within_limit CHECK (octet_length(name) <= %%5$s OR length(name) <= %%5$s),
                 CONSTRAINT name_fits_path_style CHECK (%%6$s)
               ) FOR VALUES IN (%%4$s)',
              current_schema(), part, tenant, p_scan_id, p_max_name_chars, name_rule);
            EXECUTE format('ALTER TABLE %%I.%%I ENABLE ROW LEVEL SECURITY', current_schema(), part);
            EXECUTE format(
              $p$CREATE POLICY tenant_isolation ON %%I.%%I USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)$p$,
              current_schema(), part);
          END $body$$f$, schema_name);

        EXECUTE format('REVOKE ALL ON FUNCTION %1$I.create_scan_partition(bigint, text, integer) FROM PUBLIC', schema_name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %1$I.create_scan_partition(bigint, text, integer) TO strata_api', schema_name);
      END $outer$`);
  }
}
