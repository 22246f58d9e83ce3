import { Migration } from '@mikro-orm/migrations';

/**
 * Share names as SMB allows them: 1 to 80 characters with Unicode letters, spaces and
 * parentheses (`Données`, `Finance (Old)`), none of the characters SMB forbids, no
 * control characters and no leading or trailing space. The first rule allowed ASCII only.
 */
export class T0004ShareNames extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE scan DROP CONSTRAINT scan_share_name_check');
    this.addSql(`
      ALTER TABLE scan ADD CONSTRAINT scan_share_name_check CHECK (
        share_name ~ '^[^[:cntrl:]"/\\\\[\\]:|<>+=;,?*]{1,80}$' AND share_name !~ '^ ' AND share_name !~ ' $')`);
  }
}
