import { Migration } from '@mikro-orm/migrations';

/**
 * The person a token belongs to. Remediation needs approvals from two different
 * people, and a person may hold several tokens, so the token's own id or name cannot
 * tell two approvers apart. Tokens made before this migration have no person and
 * cannot approve until reissued.
 */
export class M0005TokenPerson extends Migration {
  override async up(): Promise<void> {
    this.addSql(`ALTER TABLE control.api_token ADD COLUMN person text CHECK (person ~ '^[^[:cntrl:]]{1,200}$')`);
  }
}
