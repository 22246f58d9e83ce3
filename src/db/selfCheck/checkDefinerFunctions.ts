import type pg from 'pg';
import type { Problem } from './problem.ts';

interface FunctionRow {
  signature: string;
  owner: string;
  owner_bypasses_rls: boolean;
  config: string[] | null;
}

/**
 * Check every SECURITY DEFINER function of the database outside the system schemas
 * and extensions. Each must pin `search_path` with `pg_temp` last: otherwise a caller
 * can put a table or function of its own (a temporary one, say) in front of the ones the
 * function means, and run code with the owner's privileges. PostgreSQL searches
 * `pg_temp` first for tables unless it is listed. Its owner must not bypass
 * row-level security, or the function reads every tenant's rows.
 */
export async function checkDefinerFunctions(db: pg.ClientBase | pg.Pool): Promise<Problem[]> {
  const { rows } = await db.query<FunctionRow>(
    `SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS signature,
            r.rolname AS owner, r.rolsuper OR r.rolbypassrls AS owner_bypasses_rls, p.proconfig AS config
       FROM pg_proc p
       JOIN pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_roles r ON r.oid = p.proowner
      WHERE p.prosecdef
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
      ORDER BY 1`,
  );

  const problems: Problem[] = [];
  for (const fn of rows) {
    const subject = `function ${fn.signature}`;
    const searchPath = searchPathOf(fn.config);

    if (searchPath === undefined) {
      problems.push({
        check: 'definer-search-path',
        subject,
        message: `is SECURITY DEFINER without a pinned search_path; run ALTER FUNCTION ${fn.signature} SET search_path = <its schema>, pg_temp`,
      });
    } else if (searchPath[searchPath.length - 1] !== 'pg_temp') {
      problems.push({
        check: 'definer-search-path',
        subject,
        message: `is SECURITY DEFINER with search_path "${searchPath.join(', ')}", which does not list pg_temp last, so temporary tables come first; add pg_temp as the last entry`,
      });
    }
    if (fn.owner_bypasses_rls) {
      problems.push({
        check: 'definer-owner-bypasses-rls',
        subject,
        message: `is SECURITY DEFINER and owned by ${fn.owner}, which bypasses row-level security; give it to a role that does not`,
      });
    }
  }
  return problems;
}

/** Return the schemas of a `search_path=…` entry of `proconfig`, unquoted, or undefined when there is none. */
function searchPathOf(config: string[] | null): string[] | undefined {
  const entry = (config ?? []).find((setting) => setting.startsWith('search_path='));
  if (entry === undefined) return undefined;
  return entry
    .slice('search_path='.length)
    .split(',')
    .map((schema) => schema.trim().replace(/^"(.*)"$/, '$1'))
    .filter((schema) => schema !== '');
}
