import { Migration } from '@mikro-orm/migrations';

/** Win32 attributes of files that are not on the disk: offline, recall on open, recall on data access. */
export const PLACEHOLDER_ATTRIBUTES = 0x1000 | 0x40000 | 0x400000;

/**
 * - Tier objects are keyed by folder and name. A key on the joined full path merged
 *   distinct files whose joins spell the same text (`a\b.txt` in `C:\x` and `b.txt`
 *   in `C:\x\a`).
 * - Each plan run stamps the rows it selects, so PLANNED rows that no longer qualify
 *   (read again, changed or deleted since) can be dropped; the planner may now delete.
 * - `frn` holds NTFS file ids up to 2^64 - 1 and `attributes` the full 32-bit DWORD.
 * - Staged folder paths must be absolute and canonical for the scan's path style, and
 *   Windows names must not contain a backslash; the chunk receiver sets the style.
 */
export class T0003PlanKeysAndPaths extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE tier_object DROP CONSTRAINT tier_object_share_name_path_sha256_key');
    this.addSql('ALTER TABLE tier_object DROP COLUMN path_sha256');
    this.addSql('ALTER TABLE tier_object ADD CONSTRAINT tier_object_file UNIQUE (dir_id, name)');
    this.addSql('ALTER TABLE tier_object ADD COLUMN plan_run uuid');
    this.addSql('GRANT DELETE ON tier_object TO strata_planner');

    this.addSql('ALTER TABLE file ALTER COLUMN frn TYPE numeric(20, 0), ALTER COLUMN attributes TYPE bigint');

    // staging_file belongs to the stager role, so only it may alter the table.
    this.addSql('SET LOCAL ROLE strata_stager');
    this.addSql(`
      ALTER TABLE staging_file
        ALTER COLUMN frn TYPE numeric(20, 0),
        ALTER COLUMN attributes TYPE bigint,
        ADD CONSTRAINT frn_in_range CHECK (frn >= 0 AND frn < 18446744073709551616),
        ADD CONSTRAINT attributes_in_range CHECK (attributes >= 0 AND attributes < 4294967296),
        ADD CONSTRAINT dir_path_canonical CHECK (
          CASE nullif(current_setting('strata.path_style', true), '')
            WHEN 'windows' THEN
              dir_path ~ '^([A-Za-z]:\\\\|\\\\\\\\[^\\\\]+\\\\[^\\\\]+)'
              AND (dir_path !~ '\\\\$' OR dir_path ~ '^[A-Za-z]:\\\\$')
              AND dir_path !~ '\\\\\\.{1,2}(\\\\|$)'
              AND dir_path !~ '.\\\\\\\\'
            WHEN 'posix' THEN
              dir_path ~ '^/'
              AND (dir_path = '/' OR dir_path !~ '/$')
              AND dir_path !~ '//'
              AND dir_path !~ '/\\.{1,2}(/|$)'
            ELSE true
          END),
        ADD CONSTRAINT name_fits_path_style CHECK (
          current_setting('strata.path_style', true) IS DISTINCT FROM 'windows' OR strpos(name, '\\') = 0)`);
    this.addSql('SET LOCAL ROLE strata_owner');
  }
}
