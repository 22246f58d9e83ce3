import { Migration } from '@mikro-orm/migrations';

/**
 * A recall may end STALE: the file is no longer a stub of the object (the user deleted
 * it, wrote other content over it, or it names another object). The object then leaves
 * the stubbed states instead of going back to STUBBED, where every later recall run
 * claimed it again. Nothing references its Tier-2 copy any more, so reconciliation
 * reports that copy as an orphan, whose removal needs two approvals.
 */
export class T0018RecallOfAChangedStub extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      INSERT INTO tier_transition (from_state, to_state)
      VALUES ('RECALLING', 'STALE')
      ON CONFLICT DO NOTHING`);
  }
}
