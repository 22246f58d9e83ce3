import { Migration } from '@mikro-orm/migrations';

/**
 * The actor may delete from `tier_result_log`, so that recording results also prunes
 * results older than the retention (src/acting/sql/pruneResultLog.ts). The row policy
 * from T0010 covers deletes, so only the privilege is new.
 */
export class T0017ResultLogRetention extends Migration {
  override async up(): Promise<void> {
    this.addSql('GRANT DELETE ON tier_result_log TO strata_actor');
  }
}
