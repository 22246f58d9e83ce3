import { Migration } from '@mikro-orm/migrations';
import { REPORT_LOGIN_PREFIX } from '../../src/tenancy/reportLoginName.ts';

/** The reporting views, each read through a function of the same name with the suffix `_rows`. */
const REPORTS = ['report_latest_files', 'report_age_histogram', 'report_tiering_state'] as const;

/** The latest OK scan of each share: the snapshot every report describes. */
const LATEST_SCANS = `
  SELECT DISTINCT ON (share_name) scan_id, share_name
    FROM scan
   WHERE status = 'OK'
   ORDER BY share_name, finished_at DESC, scan_id DESC`;

/**
 * Reporting views for BI tools and the `strata_report` role: `report_latest_files`,
 * `report_age_histogram` and `report_tiering_state`.
 *
 * A `security_invoker` view checks table privileges as the caller, so a caller that
 * may read the views but no table could not read them. Each view therefore selects
 * from a SECURITY DEFINER function owned by strata_owner, whose `search_path` is pinned
 * to this schema with `pg_temp` last. Row-level security still applies inside the
 * function: it is forced on strata_owner's tables, and applies to strata_owner on any
 * table another role owns. The caller's `app.tenant_id` decides the rows.
 *
 * NOTE: PostgreSQL does not inline SECURITY DEFINER functions, so a filter on a view
 * runs after the function has produced all of its rows. A filtered query on
 * `report_latest_files` costs as much as reading the whole latest snapshot.
 *
 * `report_latest_files` and `report_age_histogram` read `file` joined to `dir` by the
 * folder hash; a new layout of `file` changes only their function bodies below.
 */
export class T0007ReportViews extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE FUNCTION report_latest_files_rows()
        RETURNS TABLE (
          share_name text, scan_id bigint, dir_path text, name text, size_bytes bigint,
          atime_unix bigint, mtime_unix bigint, ctime_unix bigint, attributes bigint,
          last_access_at timestamptz, modified_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER
      AS $$
        WITH latest AS (${LATEST_SCANS})
        SELECT l.share_name, f.scan_id, d.dir_path, f.name, f.size_bytes,
               f.atime_unix, f.mtime_unix, f.ctime_unix, f.attributes,
               to_timestamp(f.atime_unix), to_timestamp(f.mtime_unix)
          FROM latest l
          JOIN file f ON f.scan_id = l.scan_id
          JOIN dir d ON d.share_name = l.share_name AND d.dir_hash = f.dir_hash
      $$`);

    // The same buckets as src/planning/ageHistogram.ts, copied because a migration must
    // keep producing the schema it produced when it was written.
    this.addSql(`
      CREATE FUNCTION report_age_histogram_rows()
        RETURNS TABLE (share_name text, bucket integer, label text, files bigint, bytes bigint)
        LANGUAGE sql STABLE SECURITY DEFINER
      AS $$
        WITH latest AS (${LATEST_SCANS}),
        buckets (bucket, label) AS (
          VALUES (0, '< 30 days'), (1, '30-90 days'), (2, '90 days-1 year'), (3, '1-2 years'),
                 (4, '2-3 years'), (5, '3-5 years'), (6, '> 5 years')),
        counts AS (
          SELECT l.share_name,
                 width_bucket(extract(epoch from now())::bigint - f.atime_unix,
                              ARRAY[2592000, 7776000, 31536000, 63072000, 94608000, 157680000]::bigint[]) AS bucket,
                 count(*) AS files, sum(f.size_bytes)::bigint AS bytes
            FROM latest l JOIN file f ON f.scan_id = l.scan_id
           GROUP BY 1, 2)
        SELECT l.share_name, b.bucket, b.label, coalesce(c.files, 0), coalesce(c.bytes, 0)
          FROM latest l
         CROSS JOIN buckets b
          LEFT JOIN counts c ON c.share_name = l.share_name AND c.bucket = b.bucket
      $$`);

    this.addSql(`
      CREATE FUNCTION report_tiering_state_rows()
        RETURNS TABLE (share_name text, state text, objects bigint, bytes bigint, last_planned_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER
      AS $$
        SELECT share_name, state, count(*), sum(size_bytes)::bigint, to_timestamp(max(planned_at))
          FROM tier_object
         GROUP BY share_name, state
      $$`);

    for (const report of REPORTS) {
      // Functions are executable by PUBLIC unless revoked.
      this.addSql(`REVOKE EXECUTE ON FUNCTION ${report}_rows() FROM PUBLIC`);
      this.addSql(`CREATE VIEW ${report} WITH (security_invoker = true) AS SELECT * FROM ${report}_rows()`);
      this.addSql(`GRANT SELECT ON ${report} TO strata_report`);
      this.addSql(`GRANT EXECUTE ON FUNCTION ${report}_rows() TO strata_report`);
    }
    this.pinSearchPaths();
    this.grantToReportLogin();
  }

  /** `SET search_path` needs the schema's name, which only the running migration knows. */
  private pinSearchPaths(): void {
    this.addSql(`
      DO $$
      DECLARE
        report text;
      BEGIN
        FOREACH report IN ARRAY ARRAY['${REPORTS.join("', '")}'] LOOP
          EXECUTE format('ALTER FUNCTION %I.%I() SET search_path = %I, pg_temp', current_schema(), report || '_rows', current_schema());
        END LOOP;
      END $$`);
  }

  /** A tenant's reporting login made before this migration ran gets the new views too. */
  private grantToReportLogin(): void {
    this.addSql(`
      DO $$
      DECLARE
        login text := '${REPORT_LOGIN_PREFIX}' || substr(current_schema(), 3);
        report text;
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
          RETURN;
        END IF;
        FOREACH report IN ARRAY ARRAY['${REPORTS.join("', '")}'] LOOP
          EXECUTE format('GRANT SELECT ON %I TO %I', report, login);
          EXECUTE format('GRANT EXECUTE ON FUNCTION %I() TO %I', report || '_rows', login);
        END LOOP;
      END $$`);
  }
}
