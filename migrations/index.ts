import { M0001ControlSchema } from './M0001_control_schema.ts';
import { M0002StageRoles } from './M0002_stage_roles.ts';
import { M0003FleetLedgerAndAudit } from './M0003_fleet_ledger_and_audit.ts';
import { M0004TenantKeyVersions } from './M0004_tenant_key_versions.ts';
import { M0005TokenPerson } from './M0005_token_person.ts';

/** Control schema migrations, oldest first. Names are stable: they are the ledger keys. */
export const CONTROL_MIGRATIONS = [
  { name: 'M0001_control_schema', class: M0001ControlSchema },
  { name: 'M0002_stage_roles', class: M0002StageRoles },
  { name: 'M0003_fleet_ledger_and_audit', class: M0003FleetLedgerAndAudit },
  { name: 'M0004_tenant_key_versions', class: M0004TenantKeyVersions },
  { name: 'M0005_token_person', class: M0005TokenPerson },
];
