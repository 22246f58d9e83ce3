import { findPgTool } from '../../src/tenancy/pgTools.ts';

/**
 * Skip the calling suite, saying why, when pg_dump or pg_restore cannot be found
 * (.ci/run installs them from Debian's postgresql-client). Use in a `before` hook.
 */
export function skipWithoutPgTools(context: Mocha.Context): void {
  try {
    findPgTool('pg_dump', process.env.STRATA_PG_DUMP);
    findPgTool('pg_restore', process.env.STRATA_PG_RESTORE);
  } catch (error) {
    console.log(`    skipped: ${(error as Error).message}`);
    context.skip();
  }
}
