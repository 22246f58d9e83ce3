import { Migration } from '@mikro-orm/migrations';

/**
 * Each finished scan records how many of its files have an access time that cannot be
 * real: at or before the file's creation (ctime on Windows), or before its last
 * modification. On shares where the volume does not maintain access times, nearly every
 * file looks like that, and the planner reports the share's access times as unreliable.
 */
export class T0008AccessTimeReliability extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE scan ADD COLUMN atime_suspect_count bigint');
  }
}
