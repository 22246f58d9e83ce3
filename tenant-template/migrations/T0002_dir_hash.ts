import { Migration } from '@mikro-orm/migrations';

/**
 * Folders are looked up through a 64-bit hash of their path instead of a SHA-256 and a
 * join, and `file` keeps that hash in place of the folder id. A chunk's files then go
 * from staging to `file` without any join. `hashtextextended` is the function
 * PostgreSQL's hash partitioning relies on, so its values stay stable across versions.
 *
 * The access-time index goes: the planner reads a scan's rows by the primary key's
 * leading `scan_id`, and the index cost about a sixth of every insert.
 */
export class T0002DirHash extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE dir ADD COLUMN dir_hash bigint');
    this.addSql('UPDATE dir SET dir_hash = hashtextextended(dir_path, 0)');
    this.addSql('ALTER TABLE dir ALTER COLUMN dir_hash SET NOT NULL');
    this.addSql('ALTER TABLE dir ADD CONSTRAINT dir_share_hash UNIQUE (share_name, dir_hash)');
    this.addSql('ALTER TABLE dir DROP CONSTRAINT dir_share_name_path_sha256_key');
    this.addSql('ALTER TABLE dir DROP COLUMN path_sha256');

    this.addSql('ALTER TABLE file ADD COLUMN dir_hash bigint');
    this.addSql('UPDATE file f SET dir_hash = d.dir_hash FROM dir d WHERE d.dir_id = f.dir_id');
    this.addSql('ALTER TABLE file ALTER COLUMN dir_hash SET NOT NULL');
    this.addSql('ALTER TABLE file DROP CONSTRAINT file_pkey');
    this.addSql('ALTER TABLE file DROP COLUMN dir_id');
    this.addSql('ALTER TABLE file ADD PRIMARY KEY (scan_id, dir_hash, name)');
    this.addSql('DROP INDEX file_scan_atime');
  }
}
