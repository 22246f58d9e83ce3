import { M0001ControlSchema } from './M0001_control_schema.ts';

/** Control schema migrations, oldest first. Names are stable: they are the ledger keys. */
export const CONTROL_MIGRATIONS = [{ name: 'M0001_control_schema', class: M0001ControlSchema }];
