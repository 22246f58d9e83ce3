import { M0001ControlSchema } from './M0001_control_schema.ts';
import { M0002FleetLedgerAndAudit } from './M0002_fleet_ledger_and_audit.ts';

/** Control schema migrations, oldest first. Names are stable: they are the ledger keys. */
export const CONTROL_MIGRATIONS = [
  { name: 'M0001_control_schema', class: M0001ControlSchema },
  { name: 'M0002_fleet_ledger_and_audit', class: M0002FleetLedgerAndAudit },
];
